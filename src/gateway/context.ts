// The gateway's shared, per-process state: the fleet, the upstream pools, a circuit breaker and a
// concurrency limit per endpoint, the health view, metrics and the record sink. Built once by
// buildGateway; handlers receive it.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { RecordSink, RequestRecord } from '../measure/record.ts';
import { createHealthState } from '../probes/state.ts';
import type { FleetHealthState } from '../probes/types.ts';
import { UpstreamPools } from '../upstream/pools.ts';
import { CircuitBreaker, DEFAULT_BREAKER, type BreakerOptions } from './circuit-breaker.ts';
import { ConcurrencyLimit } from './concurrency.ts';
import { createMetrics, type GatewayMetrics } from './metrics.ts';

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
  readonly breaker?: Partial<BreakerOptions>;
  readonly retry?: Partial<RetryPolicy>;
  /** Jitter source (tests make backoff deterministic). */
  readonly random?: () => number;
  /** Also expose Node process metrics on /metrics. */
  readonly processMetrics?: boolean;
  /** Called for every record after the sink (tests, the demo's log). */
  readonly onRecord?: (record: RequestRecord) => void;
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
  readonly now: () => number;
  readonly retry: RetryPolicy;
  readonly random: () => number;
  breaker(endpoint: Endpoint): CircuitBreaker;
  limit(endpoint: Endpoint): ConcurrencyLimit;
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
  readonly limits: ReadonlyMap<string, ConcurrencyLimit>;
}

export function createContext(fleet: Fleet, deps: GatewayDeps): GatewayContext {
  const breakers = new Map<string, CircuitBreaker>();
  const limits = new Map<string, ConcurrencyLimit>();
  const breakerOptions: BreakerOptions = { ...DEFAULT_BREAKER, ...deps.breaker };
  for (const e of fleet.endpoints) {
    breakers.set(e.name, new CircuitBreaker(breakerOptions));
    limits.set(e.name, new ConcurrencyLimit(e.maxConcurrency, e.maxQueue));
  }
  return {
    fleet,
    pools: new UpstreamPools(deps.env ?? process.env),
    health: deps.health ?? createHealthState(fleet, { clock: deps.now }),
    routeByHealth: deps.health !== undefined,
    metrics: createMetrics(fleet, { defaultMetrics: deps.processMetrics }),
    sink: deps.sink,
    onRecord: deps.onRecord,
    now: deps.now ?? Date.now,
    retry: { ...DEFAULT_RETRY, ...deps.retry },
    random: deps.random ?? Math.random,
    breakers,
    limits,
    breaker: (e) => breakers.get(e.name) as CircuitBreaker,
    limit: (e) => limits.get(e.name) as ConcurrencyLimit,
  };
}
