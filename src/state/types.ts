// What the gateway's replicas share, as plain JSON-shaped values so one backend interface serves
// in-process, over IPC (node:cluster workers) and in Redis. The backend is the authority; each
// replica's front (shared-state.ts) keeps a mirror for synchronous reads and a local backend to
// fall back on.
import type { BreakerOptions, BreakerSnapshot } from './circuit-breaker.ts';

export type StateMode = 'memory' | 'ipc' | 'redis';

/** A key's allowance; a missing figure is unlimited. */
export interface KeyLimit {
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

/** Charge one request to a key's buckets. */
export interface RateCharge {
  /** The key's identity in the store: a hash, never the key itself. */
  readonly bucket: string;
  readonly limit: KeyLimit;
  /** Tokens charged at admission (the estimate; corrected later by `settle`). */
  readonly tokens: number;
}

export interface BucketReading {
  readonly limit: number;
  /** Whole units left after this request. */
  readonly remaining: number;
  /** Until the bucket is full again. */
  readonly resetMs: number;
}

export interface RateVerdict {
  readonly allowed: boolean;
  readonly requests?: BucketReading;
  readonly tokens?: BucketReading;
  /** When refused: until enough has refilled for this request. */
  readonly retryAfterMs: number;
}

/** Slot limits of one endpoint (the fleet file's maxConcurrency / maxQueue). */
export interface SlotLimits {
  readonly maxConcurrency: number;
  readonly maxQueue: number;
}

export interface AdmitRequest {
  readonly replica: string;
  readonly endpoint: string;
  readonly slots: SlotLimits;
  readonly rate?: RateCharge;
  /** A queued request trying again: it holds a queue place, which it gives up on any answer but 'queued'. */
  readonly fromQueue?: boolean;
  /** Token corrections owed from earlier requests, sent along instead of on their own. */
  readonly settlements?: readonly Settlement[];
  /**
   * Reserve this much more for the replica when granted, if the limits have room to spare (see
   * `Reserve`): slots of the endpoint, and requests of the key's bucket (with this request's token
   * cost for each). A backend may grant less or none.
   */
  readonly reserve?: { readonly slots: number; readonly requests: number };
}

/**
 * What a replica holds in advance so it can admit without a round trip: slots counted as in use
 * in the store, and requests and tokens already taken from a key's buckets. Granted only while
 * the limit has half its room to spare, so limits stay exact for the whole fleet.
 */
export interface Reserve {
  readonly slots: number;
  readonly requests: number;
  readonly tokens: number;
}

export type AdmitReply =
  | {
      readonly kind: 'granted';
      readonly probe: boolean;
      readonly rate?: RateVerdict;
      /** Reserved beyond this request (only when asked for, and room was spare). */
      readonly reserved?: Reserve;
    }
  | { readonly kind: 'queued'; readonly rate?: RateVerdict }
  | { readonly kind: 'full'; readonly rate?: RateVerdict }
  | {
      readonly kind: 'refused';
      readonly why: string;
      readonly breaker: BreakerSnapshotWire;
      readonly rate?: RateVerdict;
    }
  | { readonly kind: 'rate_limited'; readonly rate: RateVerdict };

/** How an attempt ended, for its endpoint's breaker. */
export type AttemptVerdict = 'success' | 'failure' | 'none';

export interface FinishRequest {
  readonly replica: string;
  readonly endpoint: string;
  readonly verdict: AttemptVerdict;
  readonly probe: boolean;
  /** Retry-After from the server, relative. */
  readonly pauseMs?: number;
  /**
   * Keep the slot reserved for this replica instead of freeing it, unless the endpoint is busy
   * (anyone queued, or over half of `maxConcurrency` in use) or the breaker is not closed.
   */
  readonly keep?: { readonly maxConcurrency: number };
}

export interface FinishReply extends BreakerSnapshotWire {
  /** The slot stayed reserved for the replica (only when asked to keep it). */
  readonly kept?: boolean;
}

/** Reservations a replica gives back (idle, or the limit got busy). */
export interface ReserveRelease {
  readonly replica: string;
  readonly slots: Readonly<Record<string, number>>;
  readonly buckets: readonly {
    readonly bucket: string;
    readonly limit: KeyLimit;
    readonly requests: number;
    readonly tokens: number;
  }[];
}

export interface Settlement {
  readonly bucket: string;
  readonly limit: KeyLimit;
  /** Actual minus charged tokens (negative: a refund). */
  readonly deltaTokens: number;
}

/**
 * A breaker as it travels: times relative to the moment it was read, so replicas whose clocks
 * differ (or the store's clock) still agree on how long is left.
 */
export interface BreakerSnapshotWire {
  readonly state: BreakerSnapshot['state'];
  readonly consecutiveFailures: number;
  /** Open: time left before half-open. */
  readonly openRemainingMs?: number;
  readonly pauseRemainingMs?: number;
}

/** What the backend tells every replica. */
export type StateEvent =
  | { readonly type: 'breaker'; readonly endpoint: string; readonly breaker: BreakerSnapshotWire }
  | { readonly type: 'slot'; readonly endpoint: string }
  | { readonly type: 'probe'; readonly from: string; readonly observation: SharedObservation }
  | {
      readonly type: 'counter';
      readonly from: string;
      readonly name: string;
      readonly values: CounterValues;
    };

/** A probe result as the monitor feeds it into the health state machine. */
export interface SharedObservation {
  readonly endpoint: string;
  /** The server of the endpoint's replica pool probed (absent for one server). */
  readonly replica?: string;
  readonly ok: boolean;
  readonly atMs: number;
  readonly cause?: string;
  readonly detail?: string;
}

/** Per-endpoint numbers one replica contributes to a fleet-wide sum (e.g. the load ledger). */
export type CounterValues = Readonly<Record<string, number>>;

/** What one replica holds in the store right now (sent again when the store comes back). */
export interface ReplicaHoldings {
  readonly replica: string;
  readonly ttlMs: number;
  /** Restate the slots and queue places below (after a loss); otherwise only stay alive. */
  readonly restate: boolean;
  /** Per endpoint: slots held and queue places held. */
  readonly endpoints: Readonly<Record<string, { readonly inFlight: number; readonly queued: number }>>;
  /** Breakers this replica opened while it was cut off (the store keeps the worse of the two). */
  readonly opened: Readonly<Record<string, BreakerSnapshotWire>>;
}

export interface HeartbeatReply {
  readonly breakers: Readonly<Record<string, BreakerSnapshotWire>>;
  /** Replicas alive in the store (this one included): the share each takes when cut off. */
  readonly replicas: number;
}

export interface StateBackend {
  readonly mode: StateMode;
  admit(request: AdmitRequest): Promise<AdmitReply>;
  finish(request: FinishRequest): Promise<FinishReply>;
  /** Give back reservations (backends that never grant any need not implement it). */
  release?(release: ReserveRelease): Promise<void>;
  /** A queued request left (client gone, gave up). */
  leaveQueue(replica: string, endpoint: string): Promise<void>;
  settle(settlements: readonly Settlement[]): Promise<void>;
  /** Which of `endpoints` this replica may probe for the next `ttlMs` (one replica per endpoint). */
  leases(replica: string, endpoints: readonly string[], ttlMs: number): Promise<readonly string[]>;
  /** Tell every replica (including this one's listeners). */
  publish(event: StateEvent): Promise<void>;
  /** Keep this replica alive in the store and (re)state what it holds; returns every breaker. */
  heartbeat(holdings: ReplicaHoldings): Promise<HeartbeatReply>;
  /** Fleet-wide slots in use and queued per endpoint (for /fleet/health; a read, off the hot path). */
  usage(
    endpoints: readonly string[],
  ): Promise<Readonly<Record<string, { inFlight: number; queued: number }>>>;
  subscribe(listener: (event: StateEvent) => void): () => void;
  /** Resolves once connected (or after `timeoutMs` either way): start-up waits on it, requests never do. */
  ready?(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface BackendOptions {
  readonly breaker: BreakerOptions;
  /** How long a half-open probe may hold its claim before another replica may probe. */
  readonly probeLeaseMs: number;
}

export function toWire(snapshot: BreakerSnapshot, nowMs: number, openMs: number): BreakerSnapshotWire {
  return {
    state: snapshot.state,
    consecutiveFailures: snapshot.consecutiveFailures,
    ...(snapshot.state === 'open' && snapshot.openedAtMs !== undefined
      ? { openRemainingMs: Math.max(0, snapshot.openedAtMs + openMs - nowMs) }
      : {}),
    ...(snapshot.pausedUntilMs !== undefined
      ? { pauseRemainingMs: Math.max(0, snapshot.pausedUntilMs - nowMs) }
      : {}),
  };
}

export function fromWire(wire: BreakerSnapshotWire, nowMs: number, openMs: number): BreakerSnapshot {
  return {
    state: wire.state,
    consecutiveFailures: wire.consecutiveFailures,
    ...(wire.state !== 'closed' ? { openedAtMs: nowMs - openMs + (wire.openRemainingMs ?? 0) } : {}),
    ...(wire.pauseRemainingMs !== undefined && wire.pauseRemainingMs > 0
      ? { pausedUntilMs: nowMs + wire.pauseRemainingMs }
      : {}),
  };
}
