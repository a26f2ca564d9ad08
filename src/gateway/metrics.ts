// The gateway's Prometheus metrics (prom-client, one registry per gateway so tests can build many).
// Names come from measure/metric-names.ts (OTel GenAI names where they exist); every latency
// histogram's buckets include each SLO threshold in the fleet file, so `le` buckets answer
// "what share met the target" exactly.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Fleet } from '../fleet/index.ts';
import { METRICS } from '../measure/metric-names.ts';
import type { RequestRecord } from '../measure/record.ts';
import { objectivesFor, rateEvents, requestEvents } from '../slo/index.ts';

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const ITL_BUCKETS_S = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const OVERHEAD_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
const RATE_BUCKETS = [1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400];

function withThresholds(base: readonly number[], extra: readonly number[]): number[] {
  return [...new Set([...base, ...extra].filter((x) => Number.isFinite(x) && x > 0))].sort((a, b) => a - b);
}

interface GapSeries {
  readonly labels: { endpoint: string; host: string };
  /** Observations per bucket (not cumulative); the last slot is above every bound (+Inf only). */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * The inter-token-latency histogram: one request's gaps (64 and more per request) added with one
 * series lookup, where prom-client's Histogram hashes and validates the labels on every observe.
 * It speaks prom-client's metric contract (get, getForPromString, reset) so the registry exposes
 * it exactly as a `Histogram` with labels endpoint and host: the same buckets, `le` first, the
 * same sums (each gap divided by 1000 and added in order).
 */
export class GapHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: readonly number[];
  private series = new Map<string, GapSeries>();

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = [...bounds].sort((a, b) => a - b);
  }

  /** Gaps in ms, observed in seconds. `replica` only for a server of a pool (the label is absent otherwise). */
  observeMs(endpoint: string, host: string, gapsMs: readonly number[], replica?: string): void {
    if (gapsMs.length === 0) return;
    const key = `${endpoint}\u0000${host}\u0000${replica ?? ''}`;
    let s = this.series.get(key);
    if (!s) {
      s = {
        labels: { endpoint, host, ...(replica !== undefined ? { replica } : {}) },
        counts: new Array<number>(this.bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.series.set(key, s);
    }
    const bounds = this.bounds;
    for (const g of gapsMs) {
      const v = g / 1000;
      if (!Number.isFinite(v)) continue;
      let i = 0;
      while (i < bounds.length && v > (bounds[i] as number)) i++;
      s.counts[i] = (s.counts[i] as number) + 1;
      s.sum += v;
      s.count += 1;
    }
  }

  /** What the registry formats: per series the cumulative buckets, +Inf, _sum and _count. */
  getForPromString() {
    const values: {
      labels: Record<string, string | number>;
      sharedLabels: Record<string, string>;
      value: number;
      metricName: string;
      /** prom-client's shape: null on buckets (no exemplars here), absent on _sum and _count. */
      exemplar?: null;
    }[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({
          labels: { le },
          sharedLabels: s.labels,
          value: acc,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        });
      });
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: `${this.name}_bucket`,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** As prom-client's get(): the labels of each value in one object. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }

  reset(): void {
    this.series = new Map();
  }
}

export interface GatewayMetrics {
  readonly registry: Registry;
  observe(record: RequestRecord, itlGapsMs: readonly number[]): void;
  attempt(endpoint: string, result: string): void;
  failover(from: string, to: string, cause: string): void;
  /** A stream rescue: the answer cut on `from` continued on `to` (possibly the same endpoint). */
  rescue(from: string, to: string, cause: string): void;
  setUp(endpoint: string, host: string, up: boolean): void;
}

export function createMetrics(fleet: Fleet, options: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const ttftThresholdsS = fleet.endpoints.flatMap((e) =>
    e.slo.ttft ? [e.slo.ttft.p95Ms / 1000, e.slo.ttft.p99Ms / 1000] : [],
  );
  const rateFloors = fleet.endpoints.flatMap((e) =>
    [e.slo.throughput.sustainedTokensPerSecond, e.slo.throughput.burstTokensPerSecond].filter(
      (x): x is number => x !== undefined,
    ),
  );
  const ttft = new Histogram({
    name: METRICS.ttft,
    help: 'Time to first content or reasoning token (embeddings: whole batch latency), seconds',
    // `replica` only on a pool's servers: their objectives can be judged one server at a time.
    labelNames: ['endpoint', 'host', 'operation', 'replica'],
    buckets: withThresholds(LATENCY_BUCKETS_S, ttftThresholdsS),
    registers: [registry],
  });
  const itl = new GapHistogram(
    METRICS.interTokenLatency,
    'Gaps between output tokens, seconds',
    ITL_BUCKETS_S,
  );
  registry.registerMetric(itl as unknown as Metric);
  const duration = new Histogram({
    name: METRICS.requestDuration,
    help: 'Whole request as the client saw it, seconds',
    labelNames: ['endpoint', 'host', 'operation', 'outcome'],
    buckets: withThresholds(LATENCY_BUCKETS_S, ttftThresholdsS),
    registers: [registry],
  });
  const decode = new Histogram({
    name: METRICS.decodeRate,
    help: 'Generation-phase tokens per second per request',
    labelNames: ['endpoint', 'host', 'replica'],
    buckets: withThresholds(RATE_BUCKETS, rateFloors),
    registers: [registry],
  });
  const overhead = new Histogram({
    name: METRICS.gatewayOverhead,
    help: "The gateway's own added time per request, seconds",
    buckets: OVERHEAD_BUCKETS_S,
    registers: [registry],
  });
  const requests = new Counter({
    name: METRICS.requests,
    help: 'Requests by final endpoint, route, operation and outcome',
    labelNames: ['endpoint', 'route', 'operation', 'outcome'],
    registers: [registry],
  });
  const attempts = new Counter({
    name: METRICS.attempts,
    help: 'Upstream attempts by endpoint and result (ok or an error cause)',
    labelNames: ['endpoint', 'result'],
    registers: [registry],
  });
  const failovers = new Counter({
    name: METRICS.failovers,
    help: 'Failovers from one endpoint to another, by cause',
    labelNames: ['from', 'to', 'cause'],
    registers: [registry],
  });
  const rescues = new Counter({
    name: METRICS.rescues,
    help: 'Stream rescues (a cut answer continued), by where it broke and where it went on',
    labelNames: ['from', 'to', 'cause', 'same_endpoint'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: METRICS.tokens,
    help: 'Tokens by endpoint and type (input|output)',
    labelNames: ['endpoint', 'type'],
    registers: [registry],
  });
  const up = new Gauge({
    name: METRICS.endpointUp,
    help: '1 when the endpoint is up in the gateway view, 0 when down',
    labelNames: ['endpoint', 'host'],
    registers: [registry],
  });
  for (const e of fleet.endpoints) if (e.status === 'running') up.set({ endpoint: e.name, host: e.host }, 1);
  // The one source of SLO events the exported Prometheus rules read (the monitor adds availability
  // to the same counter). Both outcomes start at 0 so ratios exist before the first bad request.
  const sloEvents = new Counter({
    name: METRICS.sloEvents,
    help: 'SLO events (good|bad) per objective; availability events only inside the objective window',
    labelNames: ['slo', 'endpoint', 'outcome'],
    registers: [registry],
  });
  // Aggregate-rate objectives (embeddings/s): units and the busy seconds they took, whose quotient
  // over any window is the rate the evaluator judges.
  const rateUnits = new Counter({
    name: METRICS.sloRateUnits,
    help: 'Units (embeddings inputs) counted by aggregate-rate objectives',
    labelNames: ['slo', 'endpoint'],
    registers: [registry],
  });
  const rateBusy = new Counter({
    name: METRICS.sloRateBusySeconds,
    help: 'Seconds the endpoint was busy with the batches an aggregate-rate objective counts',
    labelNames: ['slo', 'endpoint'],
    registers: [registry],
  });
  for (const o of objectivesFor(fleet)) {
    if (o.kind === 'availability' || o.kind === 'recovery') continue;
    if (o.judgedAs === 'aggregate') {
      rateUnits.inc({ slo: o.id, endpoint: o.endpoint }, 0);
      rateBusy.inc({ slo: o.id, endpoint: o.endpoint }, 0);
      continue;
    }
    for (const outcome of ['good', 'bad']) sloEvents.inc({ slo: o.id, endpoint: o.endpoint, outcome }, 0);
  }

  return {
    registry,
    observe(r, gaps) {
      const host = r.host ?? '';
      const server = r.replica !== undefined ? { replica: r.replica } : {};
      if (r.ttftMs !== undefined && r.outcome === 'ok')
        ttft.observe({ endpoint: r.endpoint, host, operation: r.operation, ...server }, r.ttftMs / 1000);
      // One series lookup per request, not per token.
      itl.observeMs(r.endpoint, host, gaps, r.replica);
      duration.observe(
        { endpoint: r.endpoint, host, operation: r.operation, outcome: r.outcome },
        r.totalMs / 1000,
      );
      if (r.decodeTokensPerSecond !== undefined)
        decode.observe({ endpoint: r.endpoint, host, ...server }, r.decodeTokensPerSecond);
      if (r.gatewayOverheadMs !== undefined) overhead.observe(r.gatewayOverheadMs / 1000);
      requests.inc({ endpoint: r.endpoint, route: r.route, operation: r.operation, outcome: r.outcome });
      for (const e of requestEvents(fleet, r))
        sloEvents.inc({ slo: e.objectiveId, endpoint: e.endpoint, outcome: e.outcome });
      for (const e of rateEvents(fleet, r)) {
        rateUnits.inc({ slo: e.objectiveId, endpoint: e.endpoint }, e.units);
        rateBusy.inc({ slo: e.objectiveId, endpoint: e.endpoint }, e.busyMs / 1000);
      }
      if (r.promptTokens) tokens.inc({ endpoint: r.endpoint, type: 'input' }, r.promptTokens);
      if (r.completionTokens) tokens.inc({ endpoint: r.endpoint, type: 'output' }, r.completionTokens);
    },
    attempt(endpoint, result) {
      attempts.inc({ endpoint, result });
    },
    failover(from, to, cause) {
      failovers.inc({ from, to, cause });
    },
    rescue(from, to, cause) {
      rescues.inc({ from, to, cause, same_endpoint: String(from === to) });
    },
    setUp(endpoint, host, isUp) {
      up.set({ endpoint, host }, isUp ? 1 : 0);
    },
  };
}

/** The shared state's health on /metrics: read at scrape time, nothing on the request path. */
export function registerStateMetrics(
  registry: Registry,
  state: {
    status(): { mode: string; shared: boolean };
    readonly fallbacks: number;
    readonly losses: number;
    readonly admissions: Readonly<Record<'backend' | 'reserve' | 'local', number>>;
  },
): void {
  new Gauge({
    name: METRICS.stateShared,
    help: '1 while this replica runs on the shared state, 0 while cut off and on local state',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      const s = state.status();
      this.set({ mode: s.mode }, s.shared ? 1 : 0);
    },
  });
  new Counter({
    name: METRICS.stateFallbacks,
    help: 'Shared-state calls answered by local state (store unreachable or slower than the timeout)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(state.fallbacks);
    },
  });
  new Counter({
    name: METRICS.stateAdmissions,
    help: 'Attempts admitted, by where: backend (a round trip), reserve (none: reserved in advance), local (cut off or too slow)',
    labelNames: ['via'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [via, n] of Object.entries(state.admissions)) this.inc({ via }, n);
    },
  });
  new Counter({
    name: METRICS.stateLosses,
    help: 'Times this replica lost the shared state and went over to local state',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(state.losses);
    },
  });
}
