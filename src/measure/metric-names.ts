// Metric names shared by the gateway and monitor (which emit them) and export/ (which writes
// Prometheus rules over them). One list, so the rules always match what is exposed.
// Where the OpenTelemetry GenAI semantic conventions name a metric, the Prometheus form of that
// name is used (gen_ai.server.time_to_first_token → gen_ai_server_time_to_first_token_seconds).

export const METRICS = {
  /** Histogram, seconds. Labels: endpoint, host, operation. Buckets include every TTFT threshold. */
  ttft: 'gen_ai_server_time_to_first_token_seconds',
  /** Histogram, seconds: gaps between output tokens. Labels: endpoint, host. */
  interTokenLatency: 'gen_ai_server_time_per_output_token_seconds',
  /** Histogram, seconds: whole request as the client saw it. Labels: endpoint, host, operation, outcome. */
  requestDuration: 'gen_ai_server_request_duration_seconds',
  /** Histogram, tokens/s per request (generation phase). Labels: endpoint, host. Buckets include every floor. */
  decodeRate: 'llm_fleet_decode_tokens_per_second',
  /** Histogram, seconds: the gateway's own added time. */
  gatewayOverhead: 'llm_fleet_gateway_overhead_seconds',
  /** Counter. Labels: endpoint, route, operation, outcome. */
  requests: 'llm_fleet_requests_total',
  /** Counter. Labels: endpoint, result (ok or an error cause). */
  attempts: 'llm_fleet_attempts_total',
  /** Counter. Labels: from, to, cause. */
  failovers: 'llm_fleet_failovers_total',
  /**
   * Counter of stream rescues (a cut answer continued). Labels: from, to, cause, same_endpoint
   * (true when the endpoint that was cut continued its own answer: not a failover).
   */
  rescues: 'llm_fleet_rescues_total',
  /** Counter. Labels: endpoint, type (input|output). */
  tokens: 'gen_ai_client_token_usage_total',
  /** Gauge 1/0. Labels: endpoint, host. */
  endpointUp: 'llm_fleet_endpoint_up',
  /** Gauge, seconds the endpoint has been down in the current streak (0 when up). Labels: endpoint. */
  endpointDownSeconds: 'llm_fleet_endpoint_down_seconds',
  /** Counter. Labels: endpoint, kind (health|request), result (ok|fail). */
  probes: 'llm_fleet_probes_total',
  /**
   * Counter of SLO events, the one source both the in-process evaluator and the exported rules use.
   * Labels: slo (objective id, see slo/objectives.ts), endpoint, outcome (good|bad).
   */
  sloEvents: 'llm_slo_events_total',
  /**
   * Counters of aggregate-rate objectives (embeddings/s): units served, and the seconds the endpoint
   * was busy with the counted batches. rate(units) / rate(busy) over a window is the judged rate.
   * Labels: slo, endpoint.
   */
  sloRateUnits: 'llm_slo_rate_units_total',
  sloRateBusySeconds: 'llm_slo_rate_busy_seconds_total',
  /** Gauge 1/0: the replica runs on the shared state (1) or on local state, cut off (0). Labels: mode. */
  stateShared: 'llm_fleet_state_shared',
  /** Counter of shared-state calls answered by local state (store unreachable or slower than the timeout). */
  stateFallbacks: 'llm_fleet_state_fallbacks_total',
  /** Counter of times the replica went over to local state. */
  stateLosses: 'llm_fleet_state_losses_total',
  stateAdmissions: 'llm_fleet_state_admissions_total',
  /** Counter of recovery episodes. Labels: endpoint, outcome (within|exceeded). */
  recoveryEpisodes: 'llm_slo_recovery_episodes_total',
} as const;
