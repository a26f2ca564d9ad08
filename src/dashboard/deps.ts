// What the dashboard needs from the rest of llm-fleet. The gateway mounts it with what it has;
// anything missing shows as "no data" rather than failing. The store is read through the part of
// the FleetStore interface (src/store/) the dashboard uses, so the sqlite store or the in-process
// `createMemoryStore()` both fit; verdicts come from the same `evaluateFleet` as `llm-fleet check`.
import type { Fleet } from '../fleet/index.ts';
import type { FleetHealthState } from '../probes/types.ts';
import type { RouteDecision, RouteRequest } from '../routing/index.ts';
import type { FleetVerdict } from '../slo/index.ts';
import type { FleetStore } from '../store/types.ts';

export type { SeriesPoint, SeriesQuery, TimeRange, ObjectiveCounts } from '../store/types.ts';

/** Window names the page offers. */
export type WindowName = '1h' | '24h' | '7d' | '30d';

/**
 * The store as the dashboard reads it: the full FleetStore (sqlite), whose evaluation input is read
 * exactly as `llm-fleet check` reads it, or a partial one (the in-process `createMemoryStore`).
 */
export type DashboardStore = FleetStore | PartialStore;

/** A store method that may answer at once (in process) or later (the SQL stores). */
type Answering<F> = F extends (...args: infer A) => Promise<infer R> ? (...args: A) => R | Promise<R> : never;
type Answers<K extends keyof FleetStore> = { readonly [P in K]: Answering<FleetStore[P]> };

export type PartialStore = Answers<'series' | 'objectiveCounts'> &
  Partial<Answers<'sloBuckets' | 'sloBucketsCoarse' | 'incidents' | 'calibrationRuns' | 'marks'>>;

export function isFleetStore(store: DashboardStore): store is FleetStore {
  return 'observedFingerprints' in store && 'records' in store;
}

/** Judges the fleet over [sinceMs, nowMs]; default: `evaluateFleet` over the store's buckets. */
export type EvaluateFn = (input: {
  readonly fleet: Fleet;
  readonly sinceMs: number;
  readonly nowMs: number;
}) => FleetVerdict | Promise<FleetVerdict>;

export type RouteFn = (request: RouteRequest) => RouteDecision;

export interface DashboardDeps {
  readonly fleet: Fleet;
  readonly store?: DashboardStore;
  readonly health?: FleetHealthState;
  readonly evaluate?: EvaluateFn;
  /** Defaults to `selectEndpoint(fleet, …)` with the live health states, as `llm-fleet route` uses. */
  readonly route?: RouteFn;
  /** Clock (tests pass their own). */
  readonly now?: () => number;
  /** How often `/api/events` tells the page to refresh, besides every health change. Default 5 s. */
  readonly refreshIntervalMs?: number;
}
