// One plain record per request, whoever made it (gateway, calibrate, bench, probe). The SLO logic
// is pure functions over these, so live traffic, stored history and calibration runs are judged
// by the same code. Times are epoch milliseconds; durations carry their unit in the name.

export type RequestOutcome =
  | 'ok'
  /** Upstream failed and no candidate could answer: the client got an explicit error. */
  | 'upstream_error'
  /** The client's request was wrong (4xx that retrying cannot fix). */
  | 'client_error'
  /** The client went away before the answer was complete. */
  | 'cancelled'
  /** A timeout fired (connect, TTFT, idle or total). */
  | 'timeout'
  /** Rejected by the gateway's own limits (429 queue full, 413 body). */
  | 'rejected';

export type RequestSource = 'gateway' | 'calibrate' | 'bench' | 'probe';
export type Operation = 'chat' | 'completion' | 'embeddings';

export interface AttemptRecord {
  readonly endpoint: string;
  /** Which replica of the endpoint's pool served the attempt ('0', '1', …); absent for one server. */
  readonly replica?: string;
  readonly startedAtMs: number;
  readonly status?: number;
  /** e.g. 'connect_refused', 'ttft_timeout', 'stream_cut', 'http_503', 'context_length'. */
  readonly error?: string;
  readonly durationMs: number;
  /** True when this attempt continued a partial answer (stream rescue). */
  readonly continuation?: boolean;
  /** First token after this attempt was sent (ms), when one came. */
  readonly ttftMs?: number;
  /**
   * The gateway's predicted TTFT for this attempt at the load it was sent into (load-aware routing,
   * chat endpoints): what the predictor's error against recorded traffic is measured from.
   */
  readonly predictedTtftP95Ms?: number;
  readonly predictedTtftP99Ms?: number;
}

export interface RequestRecord {
  readonly id: string;
  readonly source: RequestSource;
  readonly operation: Operation;
  /** Route name the client asked for (`auto`, `code`, an endpoint name, a model id). */
  readonly route: string;
  readonly task?: string;
  /** Endpoint that produced the final answer (or the last one tried). */
  readonly endpoint: string;
  /** The replica of the endpoint's pool that served it (its last attempt there); absent for one server. */
  readonly replica?: string;
  /** The endpoint's host (degraded-mode adjustments apply per host). */
  readonly host?: string;
  /** Served by llm-fleet's simulator (`llm-fleet demo`): the report says its figures are not hardware's. */
  readonly simulated?: boolean;
  readonly model?: string;
  readonly startedAtMs: number;
  readonly outcome: RequestOutcome;
  /** HTTP status returned to the client. */
  readonly status: number;
  readonly stream: boolean;
  readonly attempts: readonly AttemptRecord[];
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  /** Where token counts came from: the server's usage, or counted chunks (flagged fallback). */
  readonly tokenSource?: 'usage' | 'chunks' | 'estimate';
  /** Embeddings: number of inputs. */
  readonly inputCount?: number;
  /**
   * Embeddings (gateway): the whole milliseconds of the endpoint's busy time this request newly
   * covered — its [start, end] minus what the endpoint's other counted batches already covered
   * (measure/busy-union.ts). Summed over requests it is the time the endpoint was busy, which the
   * aggregate embeddings/s objective divides the inputs by.
   */
  readonly busyMs?: number;
  readonly timeToHeadersMs?: number;
  /** Time to the first chunk carrying a role only (reported separately from TTFT). */
  readonly timeToRoleMs?: number;
  /** Time to the first content or reasoning token. For embeddings: the whole request latency. */
  readonly ttftMs?: number;
  readonly itlP50Ms?: number;
  readonly itlP99Ms?: number;
  readonly itlMaxMs?: number;
  /** (completion tokens − 1) / (last token time − first token time). */
  readonly decodeTokensPerSecond?: number;
  /** Best 1-second token rate within the request. */
  readonly burstTokensPerSecond?: number;
  readonly totalMs: number;
  /** Time the gateway itself spent (total minus upstream), when measured by the gateway. */
  readonly gatewayOverheadMs?: number;
  /** Host was degraded (an endpoint on it down) while this request ran. */
  readonly degraded?: boolean;
  readonly errorMessage?: string;
}

/** Where request records go. The gateway writes; the store (monitor issue) persists. */
export interface RecordSink {
  write(record: RequestRecord): void;
}
