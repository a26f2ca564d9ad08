// One replica's view of the shared state, and the only thing the gateway and the monitor talk to.
// Behind it sits a backend: in-process (the default), the primary over IPC (`--workers N`) or
// Redis (`--state redis://…`); nothing above knows which. Reads (breaker state, Retry-After
// waits) are synchronous, from a mirror the backend keeps current by events; an attempt costs at
// most one backend call (slot + breaker + the key's rate limit on the first attempt, settled token
// corrections riding along), and its end one more, off the client's path. While a limit has room
// to spare, the backend reserves a few slots and requests for the replica (types.ts `Reserve`),
// and an attempt on a closed breaker takes one of those with no round trip at all; a reserve
// unused for a heartbeat, or on an endpoint that got busy, is given back. A call that takes
// longer than `timeoutMs` is served from local state; after `lostAfter` failures in a row the
// replica runs on local state (with a share of each fleet-wide limit) until a heartbeat gets
// through again, then restates what it holds and takes on the store's breakers.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BreakerOptions, BreakerSnapshot } from './circuit-breaker.ts';
import { MemoryBackend } from './memory-backend.ts';
import type {
  AdmitReply,
  AdmitRequest,
  AttemptVerdict,
  BreakerSnapshotWire,
  CounterValues,
  KeyLimit,
  RateCharge,
  RateVerdict,
  Reserve,
  Settlement,
  SharedObservation,
  SlotLimits,
  StateBackend,
  StateEvent,
  StateMode,
} from './types.ts';
import { toWire } from './types.ts';
import { reading } from './rate-bucket.ts';

/** Most a replica reserves of one endpoint's slots or one key's requests. */
const RESERVE_MAX = 64;

/** Slots worth reserving on an endpoint: none below 16 (small limits stay a round trip each), one sixteenth above. */
function slotReserveSize(maxConcurrency: number): number {
  return Math.min(RESERVE_MAX, Math.floor(maxConcurrency / 16));
}

function requestReserveSize(limit: KeyLimit): number {
  return limit.requestsPerMinute
    ? Math.min(RESERVE_MAX, Math.floor(limit.requestsPerMinute / 64))
    : RESERVE_MAX;
}

interface SlotReserve {
  free: number;
  /** Taken from since the last heartbeat (else it goes back). */
  used: boolean;
}

interface BucketReserve {
  readonly limit: KeyLimit;
  requests: number;
  tokens: number;
  used: boolean;
  /** The store's levels when last heard (for the rate-limit headers of reserved admissions). */
  storeRequests: number;
  storeTokens: number;
}

export interface SharedStateOptions {
  readonly breaker: BreakerOptions;
  /** The shared backend; none: this process is the authority (in-process state). */
  readonly backend?: StateBackend;
  /** Longest a request waits on the backend before local state answers. Default 50 ms. */
  readonly timeoutMs?: number;
  /** Failed backend calls in a row before the replica runs on local state. Default 3. */
  readonly lostAfter?: number;
  readonly heartbeatMs?: number;
  /** A queued request asks again this often even without a 'slot freed' event. Default 100 ms. */
  readonly queuePollMs?: number;
  /** How long a half-open probe holds its claim. Default 60 s. */
  readonly probeLeaseMs?: number;
  readonly now?: () => number;
  readonly replica?: string;
  /** Where the backend lives, for /health (never with a password). */
  readonly describe?: string;
}

export interface StateStatus {
  readonly mode: StateMode;
  /** False while a shared backend is unreachable and this replica runs on local state. */
  readonly shared: boolean;
  readonly replica: string;
  readonly where?: string;
  readonly lostSinceMs?: number;
  readonly lastError?: string;
  /** Replicas the backend last counted (this one included). */
  readonly replicas: number;
}

export type Admission =
  | {
      readonly kind: 'granted';
      readonly probe: boolean;
      readonly rate?: RateVerdict;
      /** End the attempt; idempotent. */
      finish(verdict: AttemptVerdict, pauseMs?: number): void;
    }
  | { readonly kind: 'full'; readonly rate?: RateVerdict }
  | { readonly kind: 'refused'; readonly why: string; readonly rate?: RateVerdict }
  | { readonly kind: 'rate_limited'; readonly rate: RateVerdict }
  | { readonly kind: 'cancelled' };

/** A breaker as the router and the failover loop read it. */
export interface BreakerView {
  snapshot(nowMs: number): BreakerSnapshot;
  waitMs(nowMs: number): number;
}

interface Grant {
  via: 'remote' | 'local';
  readonly endpoint: string;
  /** Where it was ended (a restatement in flight must know which it counted and lost). */
  finishedVia?: 'remote' | 'local';
}

const noop = (): void => undefined;

class TimeoutError extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(`${what} took over ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function share(limit: number, replicas: number): number {
  return Math.max(1, Math.ceil(limit / Math.max(1, replicas)));
}

export class SharedState {
  readonly replica: string;
  private readonly options: SharedStateOptions;
  private readonly now: () => number;
  private readonly local: MemoryBackend;
  private readonly remote: StateBackend | undefined;
  private readonly timeoutMs: number;
  private readonly lostAfter: number;
  private readonly queuePollMs: number;
  private connected: boolean;
  private failuresInRow = 0;
  private lostSinceMs: number | undefined;
  private lastError: string | undefined;
  private replicas = 1;
  private readonly grants = new Set<Grant>();
  private readonly queuedHere = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private pendingSettlements: Settlement[] = [];
  private readonly probeListeners = new Set<(o: SharedObservation) => void>();
  private readonly counterListeners = new Set<(from: string, name: string, v: CounterValues) => void>();
  private readonly unsubscribe: () => void;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private heartbeating = false;
  /** Calls served by local state because the backend failed or was too slow. */
  fallbacks = 0;
  /** Times the replica went over to local state. */
  losses = 0;
  /** Attempts admitted, by where the answer came from. */
  readonly admissions = { backend: 0, reserve: 0, local: 0 };
  private readonly slotReserves = new Map<string, SlotReserve>();
  private readonly bucketReserves = new Map<string, BucketReserve>();
  /** Counts losses: a reservation granted before one is not this replica's any more. */
  private epoch = 0;

  constructor(options: SharedStateOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.replica = options.replica ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.timeoutMs = options.timeoutMs ?? 50;
    this.lostAfter = Math.max(1, options.lostAfter ?? 3);
    this.queuePollMs = options.queuePollMs ?? 100;
    this.local = new MemoryBackend(
      { breaker: options.breaker, probeLeaseMs: options.probeLeaseMs ?? 60_000 },
      this.now,
    );
    this.remote = options.backend;
    this.connected = this.remote !== undefined;
    // Local events matter in every mode: local state is the authority alone, and the fallback
    // (a slot freed on local state wakes a local waiter) when shared.
    const offLocal = this.local.subscribe((e) => this.onEvent(e, true));
    const offRemote = this.remote?.subscribe((e) => this.onEvent(e, false));
    this.unsubscribe = () => {
      offLocal();
      offRemote?.();
    };
    if (this.remote) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), options.heartbeatMs ?? 1_000);
      this.heartbeatTimer.unref();
    }
  }

  get mode(): StateMode {
    return this.remote?.mode ?? 'memory';
  }

  /** First contact with the backend: wait for it (bounded) so the replica starts on the shared picture. */
  async start(): Promise<void> {
    if (!this.remote) return;
    await this.remote.ready?.(2_000);
    await this.heartbeat(true);
  }

  status(): StateStatus {
    return {
      mode: this.mode,
      shared: this.remote === undefined || this.connected,
      replica: this.replica,
      replicas: this.replicas,
      ...(this.options.describe ? { where: this.options.describe } : {}),
      ...(this.lostSinceMs !== undefined ? { lostSinceMs: this.lostSinceMs } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  breaker(endpoint: string): BreakerView {
    return this.local.breaker(endpoint);
  }

  /** Slots and queue places this replica holds on `endpoint`. */
  held(endpoint: string): { inFlight: number; queued: number } {
    let inFlight = 0;
    for (const g of this.grants) if (g.endpoint === endpoint) inFlight += 1;
    return { inFlight, queued: this.queuedHere.get(endpoint) ?? 0 };
  }

  /** Fleet-wide use per endpoint (from the backend; this replica's own when cut off). */
  async usage(endpoints: readonly string[]): Promise<Record<string, { inFlight: number; queued: number }>> {
    const source = this.active();
    try {
      return { ...(await withTimeout(source.usage(endpoints), Math.max(this.timeoutMs, 200), 'usage')) };
    } catch {
      return Object.fromEntries(endpoints.map((e) => [e, this.held(e)]));
    }
  }

  private active(): StateBackend {
    return this.remote && this.connected ? this.remote : this.local;
  }

  private limitsFor(slots: SlotLimits, rate: RateCharge | undefined, local: boolean) {
    if (!local || !this.remote) return { slots, rate };
    // Cut off from the fleet: take this replica's share, so N replicas together stay near the limit.
    const n = this.replicas;
    const limit: KeyLimit | undefined = rate && {
      ...(rate.limit.requestsPerMinute ? { requestsPerMinute: share(rate.limit.requestsPerMinute, n) } : {}),
      ...(rate.limit.tokensPerMinute ? { tokensPerMinute: share(rate.limit.tokensPerMinute, n) } : {}),
    };
    return {
      slots: { maxConcurrency: share(slots.maxConcurrency, n), maxQueue: share(slots.maxQueue, n) },
      rate: rate && limit ? { ...rate, limit } : undefined,
    };
  }

  private failed(error: unknown): void {
    this.fallbacks += 1;
    this.lastError = error instanceof Error ? error.message : String(error);
    this.failuresInRow += 1;
    if (this.connected && this.failuresInRow >= this.lostAfter) this.lose();
  }

  /** Over to local state. Reservations are dropped: the restatement on return leaves them out. */
  private lose(): void {
    this.connected = false;
    this.losses += 1;
    this.epoch += 1;
    this.lostSinceMs = this.now();
    this.slotReserves.clear();
    this.bucketReserves.clear();
  }

  private succeeded(): void {
    this.failuresInRow = 0;
  }

  private async callAdmit(
    request: AdmitRequest,
    slots: SlotLimits,
  ): Promise<{ reply: AdmitReply; via: Grant['via'] }> {
    if (this.remote && this.connected) {
      const settlements = this.pendingSettlements;
      this.pendingSettlements = [];
      const reserve = request.fromQueue ? undefined : this.reserveWanted(request);
      const epoch = this.epoch;
      const call = this.remote.admit({
        ...request,
        ...(settlements.length ? { settlements } : {}),
        ...(reserve ? { reserve } : {}),
      });
      try {
        const reply = await withTimeout(call, this.timeoutMs, 'shared state');
        this.succeeded();
        this.admissions.backend += 1;
        if (reply.kind === 'granted' && reply.reserved && epoch === this.epoch)
          this.addReserve(request, reply.reserved, reply.rate);
        else if (request.rate && reply.rate) this.noteStoreLevels(request.rate.bucket, reply.rate);
        return { reply, via: 'remote' };
      } catch (error) {
        this.pendingSettlements.push(...settlements);
        this.failed(error);
        // A late answer must not leak what it granted.
        call.then((late) => {
          if (late.kind === 'granted' && late.reserved) this.giveBack(request, late.reserved);
          if (late.kind === 'granted')
            void this.remote
              ?.finish({
                replica: this.replica,
                endpoint: request.endpoint,
                verdict: 'none',
                probe: late.probe,
              })
              .catch(noop);
          if (late.kind === 'queued')
            void this.remote?.leaveQueue(this.replica, request.endpoint).catch(noop);
        }, noop);
      }
    }
    const limits = this.limitsFor(slots, request.rate, true);
    if (this.remote) this.admissions.local += 1;
    const reply = this.local.admitNow({
      ...request,
      slots: limits.slots,
      ...(limits.rate ? { rate: limits.rate } : {}),
    });
    return { reply, via: 'local' };
  }

  private reserveWanted(request: AdmitRequest): AdmitRequest['reserve'] {
    const size = slotReserveSize(request.slots.maxConcurrency);
    if (size === 0) return undefined;
    const slots = Math.max(0, size - (this.slotReserves.get(request.endpoint)?.free ?? 0));
    const rate = request.rate;
    const requests = rate
      ? Math.max(0, requestReserveSize(rate.limit) - (this.bucketReserves.get(rate.bucket)?.requests ?? 0))
      : 0;
    return slots > 0 || requests > 0 ? { slots, requests } : undefined;
  }

  private addReserve(request: AdmitRequest, reserved: Reserve, verdict: RateVerdict | undefined): void {
    if (reserved.slots > 0) {
      const held = this.slotReserves.get(request.endpoint) ?? { free: 0, used: true };
      held.free += reserved.slots;
      this.slotReserves.set(request.endpoint, held);
    }
    const rate = request.rate;
    if (rate && reserved.requests > 0) {
      const held = this.bucketReserves.get(rate.bucket) ?? {
        limit: rate.limit,
        requests: 0,
        tokens: 0,
        used: true,
        storeRequests: 0,
        storeTokens: 0,
      };
      held.requests += reserved.requests;
      held.tokens += reserved.tokens;
      this.bucketReserves.set(rate.bucket, held);
    }
    if (rate && verdict) this.noteStoreLevels(rate.bucket, verdict);
  }

  private noteStoreLevels(bucket: string, verdict: RateVerdict): void {
    const held = this.bucketReserves.get(bucket);
    if (!held) return;
    held.storeRequests = verdict.requests?.remaining ?? 0;
    held.storeTokens = verdict.tokens?.remaining ?? 0;
  }

  /** A reservation this replica will not use (granted too late): back to the store. */
  private giveBack(request: AdmitRequest, reserved: Reserve): void {
    const rate = request.rate;
    void this.remote
      ?.release?.({
        replica: this.replica,
        slots: { [request.endpoint]: reserved.slots },
        buckets:
          rate && reserved.requests > 0
            ? [
                {
                  bucket: rate.bucket,
                  limit: rate.limit,
                  requests: reserved.requests,
                  tokens: reserved.tokens,
                },
              ]
            : [],
      })
      .catch(noop);
  }

  /**
   * An attempt from this replica's reserve, with no round trip: only on a breaker the mirror sees
   * closed and unpaused, with a reserved slot and, for a rate charge, a reserved request and its
   * tokens.
   */
  private fromReserve(
    endpoint: string,
    slots: SlotLimits,
    rate: RateCharge | undefined,
  ): Admission | undefined {
    const held = this.slotReserves.get(endpoint);
    if (!held || held.free < 1) return undefined;
    const nowMs = this.now();
    const mirror = this.local.breaker(endpoint);
    if (mirror.state(nowMs) !== 'closed' || mirror.waitMs(nowMs) > 0) return undefined;
    let verdict: RateVerdict | undefined;
    if (rate) {
      verdict = this.takeReservedRequest(rate);
      if (!verdict) return undefined;
    }
    held.free -= 1;
    held.used = true;
    this.admissions.reserve += 1;
    return this.granted(endpoint, false, 'remote', verdict, slots.maxConcurrency);
  }

  /**
   * The key's charge taken from this replica's reserve (no round trip), or undefined when the
   * reserve does not cover it. Taken first even when the slot needs a round trip, so a reserve
   * never sits idle while the store's bucket runs dry.
   */
  private takeReservedRequest(rate: RateCharge): RateVerdict | undefined {
    const bucket = this.bucketReserves.get(rate.bucket);
    const tpm = rate.limit.tokensPerMinute ?? 0;
    const cost = tpm > 0 ? Math.min(tpm, Math.max(0, Math.round(rate.tokens))) : 0;
    if (!bucket || bucket.requests < 1 || bucket.tokens < cost) return undefined;
    bucket.requests -= 1;
    bucket.tokens -= cost;
    bucket.used = true;
    const rpm = rate.limit.requestsPerMinute ?? 0;
    return {
      allowed: true,
      retryAfterMs: 0,
      ...(rpm > 0 ? { requests: reading(bucket.storeRequests + bucket.requests, rpm) } : {}),
      ...(tpm > 0 ? { tokens: reading(bucket.storeTokens + bucket.tokens, tpm) } : {}),
    };
  }

  /** Give back reserves: all of them (`all`), or those unused since the last call. */
  private releaseReserves(all: boolean, endpoint?: string): void {
    const slots: Record<string, number> = {};
    for (const [name, held] of this.slotReserves) {
      if (endpoint !== undefined && name !== endpoint) continue;
      if ((all || !held.used) && held.free > 0) {
        slots[name] = held.free;
        held.free = 0;
      }
      held.used = false;
    }
    const buckets = [];
    if (endpoint === undefined) {
      for (const [bucket, held] of this.bucketReserves) {
        if ((all || !held.used) && (held.requests > 0 || held.tokens > 0)) {
          buckets.push({ bucket, limit: held.limit, requests: held.requests, tokens: held.tokens });
          held.requests = 0;
          held.tokens = 0;
        }
        held.used = false;
      }
    }
    if (Object.keys(slots).length === 0 && buckets.length === 0) return;
    void this.remote
      ?.release?.({ replica: this.replica, slots, buckets })
      .catch((e: unknown) => this.failed(e));
  }

  /**
   * Ask for one attempt on `endpoint`: breaker and Retry-After first (from the mirror: an open
   * circuit costs no round trip), then a slot or a queue place, and with `rate` the key's limit.
   */
  async admit(
    endpoint: string,
    slots: SlotLimits,
    options: { signal?: AbortSignal; rate?: RateCharge } = {},
  ): Promise<Admission> {
    const nowMs = this.now();
    if (this.remote && this.connected && !options.rate) {
      const mirror = this.local.breaker(endpoint);
      const state = mirror.state(nowMs);
      if (state === 'open' || mirror.waitMs(nowMs) > 0)
        return {
          kind: 'refused',
          why:
            mirror.waitMs(nowMs) > 0 && state !== 'open'
              ? 'server asked to wait (Retry-After)'
              : 'circuit open',
        };
    }
    if (this.remote && this.connected) {
      const reserved = this.fromReserve(endpoint, slots, options.rate);
      if (reserved) return reserved;
    }
    let rate = options.rate;
    let verdict: RateVerdict | undefined;
    if (rate && this.remote && this.connected) {
      verdict = this.takeReservedRequest(rate);
      if (verdict) rate = undefined;
    }
    let fromQueue = false;
    for (;;) {
      const { reply, via } = await this.callAdmit(
        {
          replica: this.replica,
          endpoint,
          slots,
          ...(rate ? { rate } : {}),
          ...(fromQueue ? { fromQueue } : {}),
        },
        slots,
      );
      if (reply.rate) verdict = reply.rate;
      rate = undefined;
      const withRate = verdict ? { rate: verdict } : {};
      if (reply.kind !== 'queued' && fromQueue) this.addQueued(endpoint, -1);
      if (reply.kind === 'rate_limited') return { kind: 'rate_limited', rate: reply.rate };
      if (reply.kind === 'full') return { kind: 'full', ...withRate };
      if (reply.kind === 'refused') {
        if (via === 'remote') this.adopt(endpoint, reply.breaker);
        return { kind: 'refused', why: reply.why, ...withRate };
      }
      if (reply.kind === 'granted')
        return this.granted(endpoint, reply.probe, via, verdict, via === 'remote' ? slots.maxConcurrency : 0);
      if (!fromQueue) this.addQueued(endpoint, 1);
      fromQueue = true;
      // With a shared backend, poll even on local state: the backend may change under the waiter.
      const woke = await this.waitForSlot(endpoint, options.signal, this.remote !== undefined);
      if (!woke) {
        this.addQueued(endpoint, -1);
        const source = via === 'remote' ? this.remote : this.local;
        void source?.leaveQueue(this.replica, endpoint).catch(noop);
        return { kind: 'cancelled' };
      }
    }
  }

  private addQueued(endpoint: string, delta: number): void {
    this.queuedHere.set(endpoint, Math.max(0, (this.queuedHere.get(endpoint) ?? 0) + delta));
  }

  private waitForSlot(endpoint: string, signal: AbortSignal | undefined, poll: boolean): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.waiters.get(endpoint);
      if (!set) {
        set = new Set();
        this.waiters.set(endpoint, set);
      }
      const waiters = set;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (ok: boolean): void => {
        waiters.delete(wake);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const wake = (): void => done(true);
      const onAbort = (): void => done(false);
      waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Another replica's freed slot arrives as an event; the poll covers a lost one.
      if (poll) timer = setTimeout(wake, this.queuePollMs);
    });
  }

  private granted(
    endpoint: string,
    probe: boolean,
    via: Grant['via'],
    rate: RateVerdict | undefined,
    /** The endpoint's maxConcurrency, to keep the slot in the reserve at the end (0: free it). */
    keepMax: number,
  ): Admission {
    const grant: Grant = { via, endpoint };
    this.grants.add(grant);
    let finished = false;
    return {
      kind: 'granted',
      probe,
      ...(rate ? { rate } : {}),
      finish: (verdict, pauseMs) => {
        if (finished) return;
        finished = true;
        this.grants.delete(grant);
        grant.finishedVia = grant.via;
        const size = slotReserveSize(keepMax);
        const keep =
          grant.via === 'remote' && size > 0 && (this.slotReserves.get(endpoint)?.free ?? 0) < size;
        const request = {
          replica: this.replica,
          endpoint,
          verdict,
          probe,
          ...(pauseMs !== undefined ? { pauseMs } : {}),
        };
        if (grant.via === 'local') {
          this.local.finishNow(request);
          return;
        }
        // The failover loop reads the pause at once; the store's answer confirms it.
        if (pauseMs !== undefined && pauseMs > 0) this.local.breaker(endpoint).pause(this.now() + pauseMs);
        // Off the client's path: the answer has gone; the mirror learns the verdict when it lands.
        const call = this.remote!.finish({
          ...request,
          ...(keep ? { keep: { maxConcurrency: keepMax } } : {}),
        });
        const epoch = this.epoch;
        void withTimeout(call, Math.max(this.timeoutMs, 1_000), 'finish').then(
          (reply) => {
            this.succeeded();
            const { kept, ...wire } = reply;
            this.adopt(endpoint, wire);
            if (!keep || !this.connected || epoch !== this.epoch) return;
            // Kept: back in the reserve. Freed: the endpoint is busy; the rest of the reserve goes too.
            if (kept) {
              const held = this.slotReserves.get(endpoint) ?? { free: 0, used: true };
              held.free += 1;
              this.slotReserves.set(endpoint, held);
            } else this.releaseReserves(true, endpoint);
          },
          (error: unknown) => {
            this.failed(error);
            // Judge it locally too, so a failing endpoint still opens this replica's breaker.
            this.local.finishNow({ ...request, replica: `${this.replica}:orphan` });
          },
        );
      },
    };
  }

  /** Correct a key's token bucket once the request's real usage is known. */
  settle(bucket: string, limit: KeyLimit, deltaTokens: number): void {
    if (!limit.tokensPerMinute || deltaTokens === 0) return;
    const s: Settlement = { bucket, limit, deltaTokens };
    if (!this.remote || !this.connected) {
      const scaled = this.limitsFor({ maxConcurrency: 1, maxQueue: 0 }, { bucket, limit, tokens: 0 }, true);
      void this.local.settle([{ ...s, limit: scaled.rate?.limit ?? limit }]);
      return;
    }
    this.pendingSettlements.push(s);
  }

  private adopt(endpoint: string, wire: BreakerSnapshotWire): void {
    this.local.adopt(endpoint, wire);
  }

  private onEvent(event: StateEvent, fromLocal: boolean): void {
    if (event.type === 'breaker') {
      if (!fromLocal) this.adopt(event.endpoint, event.breaker);
      return;
    }
    if (event.type === 'slot') {
      const first = this.waiters.get(event.endpoint)?.values().next();
      if (first && !first.done) first.value();
      return;
    }
    if (event.from === this.replica) return;
    if (event.type === 'probe') for (const l of this.probeListeners) l(event.observation);
    else for (const l of this.counterListeners) l(event.from, event.name, event.values);
  }

  /** Endpoints this replica should probe now (one replica per endpoint fleet-wide; all when alone). */
  async leases(endpoints: readonly string[], ttlMs: number): Promise<ReadonlySet<string>> {
    if (!this.remote || !this.connected) return new Set(endpoints);
    try {
      const owned = await withTimeout(
        this.remote.leases(this.replica, endpoints, ttlMs),
        Math.max(this.timeoutMs, 500),
        'leases',
      );
      this.succeeded();
      return new Set(owned);
    } catch (error) {
      this.failed(error);
      return new Set(endpoints);
    }
  }

  /** Tell the other replicas what a probe found (their health views take it in as their own). */
  publishProbe(observation: SharedObservation): void {
    if (!this.remote || !this.connected) return;
    void this.remote
      .publish({ type: 'probe', from: this.replica, observation })
      .catch((e: unknown) => this.failed(e));
  }

  onProbe(listener: (observation: SharedObservation) => void): () => void {
    this.probeListeners.add(listener);
    return () => void this.probeListeners.delete(listener);
  }

  /** Share per-endpoint counters (e.g. the load ledger's); others receive them by `onCounter`. */
  publishCounter(name: string, values: CounterValues): void {
    if (!this.remote || !this.connected) return;
    void this.remote
      .publish({ type: 'counter', from: this.replica, name, values })
      .catch((e: unknown) => this.failed(e));
  }

  onCounter(listener: (from: string, name: string, values: CounterValues) => void): () => void {
    this.counterListeners.add(listener);
    return () => void this.counterListeners.delete(listener);
  }

  /** Stay alive in the store; after a loss, restate holdings and take on the store's breakers. */
  async heartbeat(first = false): Promise<void> {
    if (!this.remote || this.heartbeating) return;
    this.heartbeating = true;
    const restate = first || !this.connected;
    try {
      const nowMs = this.now();
      const endpoints: Record<string, { inFlight: number; queued: number }> = {};
      const opened: Record<string, BreakerSnapshotWire> = {};
      // The grants this restatement counts: ones granted or ended while it is in flight are
      // reconciled when it lands.
      const counted = restate ? [...this.grants] : [];
      const names = new Set([...this.queuedHere.keys(), ...counted.map((g) => g.endpoint)]);
      for (const name of names) {
        endpoints[name] = {
          inFlight: counted.filter((g) => g.endpoint === name).length,
          queued: this.queuedHere.get(name) ?? 0,
        };
      }
      if (restate && !first) {
        for (const name of this.local.endpointNames()) {
          const b = this.local.breaker(name);
          if (b.state(nowMs) !== 'closed')
            opened[name] = toWire(b.snapshot(nowMs), nowMs, this.options.breaker.openMs);
        }
      }
      const ttlMs = (this.options.heartbeatMs ?? 1_000) * 5;
      const reply = await withTimeout(
        this.remote.heartbeat({ replica: this.replica, ttlMs, restate, endpoints, opened }),
        Math.max(this.timeoutMs, 1_000),
        'heartbeat',
      );
      this.replicas = reply.replicas;
      for (const [name, wire] of Object.entries(reply.breakers)) this.adopt(name, wire);
      // Everything held now is counted in the store: end it there.
      if (restate) {
        for (const g of counted) {
          if (this.grants.has(g)) {
            // Counted in the store now: it ends there, and local state no longer holds it.
            if (g.via === 'local') this.local.releaseSlot(this.replica, g.endpoint);
            g.via = 'remote';
          } else if (g.finishedVia === 'local') {
            // Counted, but ended on local state while the restatement travelled: give it back.
            void this.remote
              .finish({ replica: this.replica, endpoint: g.endpoint, verdict: 'none', probe: false })
              .catch(noop);
          }
        }
        // Queue places likewise: a waiter that left (gave up, or got a local slot) while the
        // restatement travelled was counted in it; give its place back, or it would hold one in the
        // store for as long as this replica lives (and a held place makes every new request queue).
        for (const [name, held] of Object.entries(endpoints)) {
          for (let gone = held.queued - (this.queuedHere.get(name) ?? 0); gone > 0; gone--)
            void this.remote.leaveQueue(this.replica, name).catch(noop);
        }
      }
      if (!restate) this.releaseReserves(false);
      if (this.pendingSettlements.length > 0) {
        const owed = this.pendingSettlements;
        this.pendingSettlements = [];
        await this.remote.settle(owed).catch(() => this.pendingSettlements.push(...owed));
      }
      this.connected = true;
      this.failuresInRow = 0;
      this.lostSinceMs = undefined;
      if (!first) this.lastError = undefined;
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      if (this.connected) this.lose();
    } finally {
      this.heartbeating = false;
    }
  }

  async close(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.remote && this.connected) this.releaseReserves(true);
    this.unsubscribe();
    for (const set of this.waiters.values()) for (const wake of set) wake();
    await this.remote?.close();
    await this.local.close();
  }
}
