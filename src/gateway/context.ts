// What the gateway's handlers share: the fleet, the upstream pools, the shared state (breakers,
// pauses, slots, rate limits — in-process, or shared with other replicas; see src/state/), the
// health view, metrics and the record sink. Built once by buildGateway; handlers receive it.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { BusyUnion } from '../measure/busy-union.ts';
import type { RecordSink, RequestRecord } from '../measure/record.ts';
import { createHealthState } from '../probes/state.ts';
import type { FleetHealthState } from '../probes/types.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { DEFAULT_BREAKER, SharedState, type BreakerOptions, type BreakerView } from '../state/index.ts';
import type { GatewayEventSink } from './events.ts';
import { createMetrics, registerStateMetrics, type GatewayMetrics } from './metrics.ts';
import { AdmissionQueue } from './load/admission.ts';
import type { LoadLedger } from './load/ledger.ts';
import { registerReplicaMetrics, type ReplicaDeps, type ReplicaMetrics } from './replicas.ts';
import { LoadView } from './load/load-view.ts';
import { registerLoadMetrics, type LoadMetrics } from './load/metrics.ts';
import type { LoadDecision } from '../routing/load-aware.ts';
import type { CalibrationFigures } from '../routing/predict.ts';

export interface RetryPolicy {
  /** First backoff step; doubles per retry, with ±50% jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Longest pause the gateway will sit through (Retry-After) before telling the client instead. */
  readonly maxWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 100, maxDelayMs: 2_000, maxWaitMs: 5_000 };

export interface GatewayDeps {
  /** The shared health view (the monitor's, fed by probes too); default: one fed by this gateway's traffic only. */
  readonly health?: FleetHealthState;
  /** Where one RequestRecord per request goes. `write` must not block (no synchronous I/O). */
  readonly sink?: RecordSink;
  /** Serves `GET /` and `GET /api/*` (the dashboard). Returns false when it did not handle the path. */
  readonly dashboard?: {
    handle(
      req: import('node:http').IncomingMessage,
      res: import('node:http').ServerResponse,
    ): Promise<boolean>;
  };
  /** API keys besides the fleet file's (e.g. from --api-key or LLM_FLEET_API_KEYS). */
  readonly apiKeys?: readonly string[];
  /** Environment for the loopback guard (LLM_FLEET_LOOPBACK_ONLY). */
  readonly env?: NodeJS.ProcessEnv;
  /** Wall clock in epoch ms (breakers, Retry-After, records). Tests pass their own. */
  readonly now?: () => number;
  /** Breaker thresholds when the gateway builds its own state (ignored with `state`). */
  readonly breaker?: Partial<BreakerOptions>;
  /**
   * Shared state (breakers, pauses, slots, per-key limits) when replicas share it (Redis, IPC);
   * default: in-process state owned by this gateway. The caller closes a state it passed.
   */
  readonly state?: SharedState;
  readonly retry?: Partial<RetryPolicy>;
  /** Jitter source (tests make backoff deterministic). */
  readonly random?: () => number;
  /** Also expose Node process metrics on /metrics. */
  readonly processMetrics?: boolean;
  /** Called for every record after the sink (tests, the demo's log). */
  readonly onRecord?: (record: RequestRecord) => void;
  /** Retries, failovers, rescues and breaker transitions, as they happen (serve's log lines). */
  readonly events?: GatewayEventSink;
  /** The load ledger (default in-process; shared state may provide one). */
  readonly loadLedger?: LoadLedger;
  /** Latest calibration figures per endpoint: the TTFT predictor starts from them. */
  readonly calibrations?: ReadonlyMap<string, CalibrationFigures>;
}

/** The live load view, the admission queue and their metrics. */
export interface GatewayLoad {
  readonly view: LoadView;
  readonly admission: AdmissionQueue<LoadDecision & { action: 'dispatch' }>;
  readonly metrics: LoadMetrics;
}

export interface GatewayContext {
  readonly fleet: Fleet;
  readonly pools: UpstreamPools;
  readonly health: FleetHealthState;
  /**
   * Whether the router may order by `health`. Only with a health view that probes: one fed by this
   * gateway's traffic alone would never see a down endpoint come back (no traffic goes there);
   * the circuit breakers' half-open probes do that job instead.
   */
  readonly routeByHealth: boolean;
  readonly metrics: GatewayMetrics;
  readonly sink?: RecordSink;
  readonly onRecord?: (record: RequestRecord) => void;
  readonly events?: GatewayEventSink;
  readonly now: () => number;
  readonly retry: RetryPolicy;
  readonly random: () => number;
  readonly state: SharedState;
  /** Whether `state` was built here (and is closed with the gateway). */
  readonly ownsState: boolean;
  /**
   * Set when the gateway starts to close: a failure an attempt meets from then on (its client
   * connection closed, its upstream pool torn down) is the shutdown's doing, never the endpoint's.
   */
  readonly lifecycle: { closing: boolean };
  /** The endpoint's breaker as this replica sees it (a mirror of the shared one). */
  breaker(endpoint: Endpoint | string): BreakerView;
  /** Slots and queue places this replica holds on the endpoint. */
  limit(endpoint: Endpoint): { readonly inFlight: number; readonly queued: number };
  readonly load: GatewayLoad;
  /** Replica pools: what picks a replica (ledger, per-replica breakers) and their metrics. */
  readonly replicas: ReplicaDeps & { readonly metrics: ReplicaMetrics };
  /**
   * The time this replica kept the endpoint busy with counted embeddings batches (the aggregate
   * embeddings/s objective's denominator), on the monotonic clock.
   */
  busy(endpoint: Endpoint): BusyUnion;
}

export function createContext(fleet: Fleet, deps: GatewayDeps): GatewayContext {
  const state =
    deps.state ?? new SharedState({ breaker: { ...DEFAULT_BREAKER, ...deps.breaker }, now: deps.now });
  const now = deps.now ?? Date.now;
  const view = new LoadView(fleet, { ledger: deps.loadLedger, now, calibrations: deps.calibrations });
  const admission = new AdmissionQueue<LoadDecision & { action: 'dispatch' }>(
    fleet.routing.load.admission.maxQueue,
    fleet.routing.load.admission.ttlMs,
  );
  view.ledger.onRelease(() => admission.released());
  view.onScrape = () => admission.released();
  const metrics = createMetrics(fleet, { defaultMetrics: deps.processMetrics });
  registerStateMetrics(metrics.registry, state);
  const random = deps.random ?? Math.random;
  const health = deps.health ?? createHealthState(fleet, { clock: deps.now });
  const probed = deps.health;
  const replicaDeps: ReplicaDeps = {
    ledger: view.ledger,
    breaker: (key) => state.breaker(key),
    now,
    random,
    replicaLoads: (e) => {
      const pool = view.load(e).replicas;
      return pool ? new Map(pool.map((r) => [r.id, r.inFlight])) : undefined;
    },
    ...(probed ? { replicaDown: (e: string, id: string) => probed.replicaStates(e).get(id) === 'down' } : {}),
  };
  const busy = new Map<string, BusyUnion>();
  return {
    fleet,
    busy: (e) => {
      let u = busy.get(e.name);
      if (!u) busy.set(e.name, (u = new BusyUnion(e.timeouts.totalTimeoutMs)));
      return u;
    },
    pools: new UpstreamPools(deps.env ?? process.env),
    health,
    routeByHealth: deps.health !== undefined,
    metrics,
    sink: deps.sink,
    onRecord: deps.onRecord,
    events: deps.events,
    now,
    retry: { ...DEFAULT_RETRY, ...deps.retry },
    random,
    state,
    ownsState: deps.state === undefined,
    lifecycle: { closing: false },
    breaker: (e) => state.breaker(typeof e === 'string' ? e : e.name),
    limit: (e) => state.held(e.name),
    load: { view, admission, metrics: registerLoadMetrics(metrics.registry, fleet, view, admission) },
    replicas: { ...replicaDeps, metrics: registerReplicaMetrics(metrics.registry, fleet, replicaDeps) },
  };
}
