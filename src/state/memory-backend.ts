// The in-process backend: the authority when there is one gateway process (the default), the
// primary's state behind `--workers N` (served over IPC), and every replica's fallback while its
// shared store is unreachable. Breakers, Retry-After pauses, slots and queue places per endpoint
// (counted per replica, so a dead worker's holdings can be dropped), token buckets per key,
// probe leases.
import { CircuitBreaker } from './circuit-breaker.ts';
import { fullBucket, settleBucket, takeFromBucket, type BucketState } from './rate-bucket.ts';
import type {
  AdmitReply,
  AdmitRequest,
  BackendOptions,
  BreakerSnapshotWire,
  FinishRequest,
  HeartbeatReply,
  ReplicaHoldings,
  Settlement,
  StateBackend,
  StateEvent,
} from './types.ts';
import { fromWire, toWire } from './types.ts';

interface EndpointSlots {
  readonly breaker: CircuitBreaker;
  probeClaimedAtMs?: number;
  readonly inFlight: Map<string, number>;
  readonly queued: Map<string, number>;
}

function sum(m: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

function add(m: Map<string, number>, key: string, delta: number): void {
  const v = Math.max(0, (m.get(key) ?? 0) + delta);
  if (v === 0) m.delete(key);
  else m.set(key, v);
}

export class MemoryBackend implements StateBackend {
  readonly mode = 'memory' as const;
  private readonly options: BackendOptions;
  private readonly now: () => number;
  private readonly endpoints = new Map<string, EndpointSlots>();
  private readonly buckets = new Map<string, BucketState>();
  private readonly leaseHolders = new Map<string, { replica: string; untilMs: number }>();
  private readonly alive = new Map<string, number>();
  private readonly listeners = new Set<(event: StateEvent) => void>();

  constructor(options: BackendOptions, now: () => number = Date.now) {
    this.options = options;
    this.now = now;
  }

  private slots(endpoint: string): EndpointSlots {
    let s = this.endpoints.get(endpoint);
    if (!s) {
      s = { breaker: new CircuitBreaker(this.options.breaker), inFlight: new Map(), queued: new Map() };
      this.endpoints.set(endpoint, s);
    }
    return s;
  }

  private wire(endpoint: string, nowMs: number): BreakerSnapshotWire {
    return toWire(this.slots(endpoint).breaker.snapshot(nowMs), nowMs, this.options.breaker.openMs);
  }

  /** The breaker as this backend sees it (the front reads it directly in memory mode). */
  breaker(endpoint: string): CircuitBreaker {
    return this.slots(endpoint).breaker;
  }

  endpointNames(): string[] {
    return [...this.endpoints.keys()];
  }

  /** Take on a breaker decided by the shared store (so a fallback starts from the fleet's picture). */
  adopt(endpoint: string, wire: BreakerSnapshotWire): void {
    const nowMs = this.now();
    this.slots(endpoint).breaker.adopt(fromWire(wire, nowMs, this.options.breaker.openMs));
  }

  admit(request: AdmitRequest): Promise<AdmitReply> {
    return Promise.resolve(this.admitNow(request));
  }

  admitNow(request: AdmitRequest): AdmitReply {
    const nowMs = this.now();
    if (request.settlements) this.settleNow(request.settlements);
    const s = this.slots(request.endpoint);
    const leaveQueue = (): void => {
      if (request.fromQueue) add(s.queued, request.replica, -1);
    };
    let rate;
    if (request.rate) {
      const { bucket, limit, tokens } = request.rate;
      const taken = takeFromBucket(
        this.buckets.get(bucket) ?? fullBucket(limit, nowMs),
        limit,
        tokens,
        nowMs,
      );
      this.buckets.set(bucket, taken.state);
      rate = taken.verdict;
      if (!rate.allowed) return { kind: 'rate_limited', rate };
    }
    const withRate = rate ? { rate } : {};
    if (
      s.probeClaimedAtMs !== undefined &&
      nowMs - s.probeClaimedAtMs > this.options.probeLeaseMs &&
      s.breaker.state(nowMs) === 'half-open'
    ) {
      // The replica that took the probe went quiet (died, lost its store): let another probe.
      s.breaker.release();
      s.probeClaimedAtMs = undefined;
    }
    const permit = s.breaker.tryAcquire(nowMs);
    if (!permit.ok) {
      leaveQueue();
      return { kind: 'refused', why: permit.why, breaker: this.wire(request.endpoint, nowMs), ...withRate };
    }
    const inFlight = sum(s.inFlight);
    const queued = sum(s.queued);
    const free = inFlight < request.slots.maxConcurrency;
    // A new request queues behind those already waiting, so a freed slot goes to a waiter.
    if (free && (request.fromQueue || queued === 0)) {
      leaveQueue();
      add(s.inFlight, request.replica, 1);
      if (permit.probe) s.probeClaimedAtMs = nowMs;
      return { kind: 'granted', probe: permit.probe, ...withRate };
    }
    if (permit.probe) s.breaker.release();
    if (request.fromQueue) return { kind: 'queued', ...withRate };
    if (queued < request.slots.maxQueue) {
      add(s.queued, request.replica, 1);
      return { kind: 'queued', ...withRate };
    }
    return { kind: 'full', ...withRate };
  }

  finish(request: FinishRequest): Promise<BreakerSnapshotWire> {
    return Promise.resolve(this.finishNow(request));
  }

  finishNow(request: FinishRequest): BreakerSnapshotWire {
    const nowMs = this.now();
    const s = this.slots(request.endpoint);
    add(s.inFlight, request.replica, -1);
    if (request.probe) s.probeClaimedAtMs = undefined;
    const before = s.breaker.snapshot(nowMs);
    if (request.pauseMs !== undefined && request.pauseMs > 0) s.breaker.pause(nowMs + request.pauseMs);
    if (request.verdict === 'success') s.breaker.success();
    else if (request.verdict === 'failure') s.breaker.failure(nowMs);
    else if (request.probe) s.breaker.release();
    const after = s.breaker.snapshot(nowMs);
    const wire = this.wire(request.endpoint, nowMs);
    if (after.state !== before.state || after.pausedUntilMs !== before.pausedUntilMs) {
      this.emit({ type: 'breaker', endpoint: request.endpoint, breaker: wire });
    }
    if (sum(s.queued) > 0) this.emit({ type: 'slot', endpoint: request.endpoint });
    return wire;
  }

  /** Give a slot back without a verdict (it moved to the shared store). */
  releaseSlot(replica: string, endpoint: string): void {
    const s = this.slots(endpoint);
    add(s.inFlight, replica, -1);
    if (sum(s.queued) > 0) this.emit({ type: 'slot', endpoint });
  }

  leaveQueue(replica: string, endpoint: string): Promise<void> {
    add(this.slots(endpoint).queued, replica, -1);
    return Promise.resolve();
  }

  settle(settlements: readonly Settlement[]): Promise<void> {
    this.settleNow(settlements);
    return Promise.resolve();
  }

  private settleNow(settlements: readonly Settlement[]): void {
    const nowMs = this.now();
    for (const { bucket, limit, deltaTokens } of settlements) {
      const state = this.buckets.get(bucket) ?? fullBucket(limit, nowMs);
      this.buckets.set(bucket, settleBucket(state, limit, deltaTokens, nowMs));
    }
  }

  leases(replica: string, endpoints: readonly string[], ttlMs: number): Promise<readonly string[]> {
    const nowMs = this.now();
    const owned: string[] = [];
    for (const e of endpoints) {
      const held = this.leaseHolders.get(e);
      if (!held || held.replica === replica || held.untilMs <= nowMs) {
        this.leaseHolders.set(e, { replica, untilMs: nowMs + ttlMs });
        owned.push(e);
      }
    }
    return Promise.resolve(owned);
  }

  publish(event: StateEvent): Promise<void> {
    this.emit(event);
    return Promise.resolve();
  }

  heartbeat(holdings: ReplicaHoldings): Promise<HeartbeatReply> {
    const nowMs = this.now();
    this.alive.set(holdings.replica, nowMs + holdings.ttlMs);
    for (const [r, untilMs] of this.alive) if (untilMs <= nowMs) this.alive.delete(r);
    for (const [endpoint, held] of holdings.restate ? Object.entries(holdings.endpoints) : []) {
      const s = this.slots(endpoint);
      add(s.inFlight, holdings.replica, held.inFlight - (s.inFlight.get(holdings.replica) ?? 0));
      add(s.queued, holdings.replica, held.queued - (s.queued.get(holdings.replica) ?? 0));
    }
    for (const [endpoint, wire] of Object.entries(holdings.opened)) {
      if (this.slots(endpoint).breaker.state(nowMs) === 'closed') this.adopt(endpoint, wire);
    }
    const out: Record<string, BreakerSnapshotWire> = {};
    for (const name of this.endpoints.keys()) out[name] = this.wire(name, nowMs);
    return Promise.resolve({ breakers: out, replicas: Math.max(1, this.alive.size) });
  }

  /** A replica is gone (a worker exited): what it held is free again. */
  dropReplica(replica: string): void {
    for (const [name, s] of this.endpoints) {
      const had = s.inFlight.get(replica) ?? 0;
      s.inFlight.delete(replica);
      s.queued.delete(replica);
      if (had > 0 && sum(s.queued) > 0) this.emit({ type: 'slot', endpoint: name });
    }
    for (const [e, held] of this.leaseHolders) if (held.replica === replica) this.leaseHolders.delete(e);
    this.alive.delete(replica);
  }

  usage(
    endpoints: readonly string[],
  ): Promise<Readonly<Record<string, { inFlight: number; queued: number }>>> {
    const out: Record<string, { inFlight: number; queued: number }> = {};
    for (const e of endpoints) {
      const s = this.slots(e);
      out[e] = { inFlight: sum(s.inFlight), queued: sum(s.queued) };
    }
    return Promise.resolve(out);
  }

  subscribe(listener: (event: StateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private emit(event: StateEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not stop the state (every request depends on it).
      }
    }
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
