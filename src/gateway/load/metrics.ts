// Prometheus metrics of the load view: gauges read from the view at scrape time (no per-request
// cost), counters of routing decisions and of saturation that was judged load, not failure.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Fleet } from '../../fleet/index.ts';
import type { AdmissionFigures } from './admission.ts';
import type { LoadView } from './load-view.ts';

export interface LoadMetrics {
  decision(endpoint: string, decision: string): void;
  /** A failure on a saturated endpoint, counted as load (no breaker, no incident). */
  saturation(endpoint: string, cause: string): void;
}

export function registerLoadMetrics(
  registry: Registry,
  fleet: Fleet,
  view: LoadView,
  admission: { figures(): AdmissionFigures },
): LoadMetrics {
  const routable = fleet.endpoints.filter((e) => e.status === 'running' && e.url !== undefined);
  const gauge = (name: string, help: string, read: (e: (typeof routable)[number]) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['endpoint'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of routable) {
          const v = read(e);
          if (v !== undefined) this.set({ endpoint: e.name }, v);
        }
      },
    });
  gauge(
    'llm_fleet_load_in_flight',
    'Requests in flight per endpoint (ledger, raised by fresh engine metrics)',
    (e) => view.load(e).inFlight,
  );
  gauge(
    'llm_fleet_load_ledger_in_flight',
    'Requests this gateway has dispatched and not finished',
    (e) => view.load(e).ledger.inFlight,
  );
  gauge(
    'llm_fleet_load_prefill_waiting_tokens',
    'Prompt tokens dispatched and still waiting for a first token',
    (e) => view.load(e).prefillWaitingTokens,
  );
  gauge(
    'llm_fleet_load_decode_tokens_expected',
    'Completion tokens still expected from requests in flight',
    (e) => view.load(e).ledger.decodeTokensExpected,
  );
  gauge(
    'llm_fleet_load_saturated',
    '1 while the endpoint queues (engine waiting > 0, slots full or KV ≥ 95%)',
    (e) => (view.load(e).saturated ? 1 : 0),
  );
  gauge(
    'llm_fleet_load_engine_stale',
    '1 while no fresh engine reading is used (never scraped, failed or stale)',
    (e) =>
      view.engineState(e.name) === undefined && e.dialect !== 'vllm' && e.dialect !== 'llamacpp'
        ? undefined
        : view.load(e).engineStale
          ? 1
          : 0,
  );
  new Gauge({
    name: 'llm_fleet_load_predicted_ttft_seconds',
    help: "Predicted TTFT now for a calibration-sized prompt, by quantile (the predictor's view)",
    labelNames: ['endpoint', 'quantile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of routable) {
        if (e.kind !== 'chat') continue;
        const p = view.predict(e, fleet.calibration.promptTokens);
        this.set({ endpoint: e.name, quantile: '0.95' }, p.p95Ms / 1000);
        this.set({ endpoint: e.name, quantile: '0.99' }, p.p99Ms / 1000);
      }
    },
  });
  new Gauge({
    name: 'llm_fleet_admission_queue_length',
    help: "Requests waiting in the gateway's admission queue",
    labelNames: ['priority'],
    registers: [registry],
    collect() {
      const { waiting } = admission.figures();
      this.set({ priority: 'interactive' }, waiting.interactive);
      this.set({ priority: 'batch' }, waiting.batch);
    },
  });
  // Counters the queue keeps itself, read at scrape time (a counter's value set from its source).
  new Counter({
    name: 'llm_fleet_admission_admitted_after_wait_total',
    help: 'Requests the admission queue held and then dispatched when capacity freed',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(admission.figures().admittedAfterWait);
    },
  });
  new Counter({
    name: 'llm_fleet_admission_shed_total',
    help: 'Requests shed from the admission queue with 429, by reason (queue_full|ttl|displaced|late)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(admission.figures().shed)) this.inc({ reason }, n);
    },
  });
  const decisions = new Counter({
    name: 'llm_fleet_routing_decisions_total',
    help: 'Load-aware placements by endpoint and decision (preferred|overflow|idle|queued|shed|static|least-busy)',
    labelNames: ['endpoint', 'decision'],
    registers: [registry],
  });
  const saturation = new Counter({
    name: 'llm_fleet_saturation_total',
    help: 'Failures on a saturated endpoint counted as load, not against availability (no breaker, no incident)',
    labelNames: ['endpoint', 'cause'],
    registers: [registry],
  });
  return {
    decision(endpoint, decision) {
      decisions.inc({ endpoint, decision });
    },
    saturation(endpoint, cause) {
      saturation.inc({ endpoint, cause });
    },
  };
}
