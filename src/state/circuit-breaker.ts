// A per-endpoint circuit breaker with the clock passed in. Closed: traffic flows. It opens after
// `consecutiveFailures` failures in a row, or when the failure ratio over the last `windowSize`
// attempts reaches `failureRatio`. Open: the endpoint is skipped until `openMs` has passed; then
// half-open lets exactly one request through as the probe: success closes it, failure opens it
// again. A Retry-After from the server also keeps the endpoint skipped until it has passed, so a
// server that asked for a pause is not hammered.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  readonly consecutiveFailures: number;
  readonly failureRatio: number;
  readonly windowSize: number;
  /** Minimum attempts in the window before the ratio is judged. */
  readonly minAttempts: number;
  readonly openMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = {
  consecutiveFailures: 5,
  failureRatio: 0.5,
  windowSize: 20,
  minAttempts: 10,
  openMs: 10_000,
};

export interface BreakerSnapshot {
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  readonly openedAtMs?: number;
  /** Until when a Retry-After holds the endpoint back. */
  readonly pausedUntilMs?: number;
}

export class CircuitBreaker {
  private readonly options: BreakerOptions;
  private stateValue: BreakerState = 'closed';
  private consecutive = 0;
  private window: boolean[] = [];
  private openedAtMs: number | undefined;
  private probeInFlight = false;
  private pausedUntilMs: number | undefined;

  constructor(options: BreakerOptions = DEFAULT_BREAKER) {
    this.options = options;
  }

  /** The state as of `nowMs` (open turns half-open once `openMs` has passed). */
  state(nowMs: number): BreakerState {
    if (
      this.stateValue === 'open' &&
      this.openedAtMs !== undefined &&
      nowMs - this.openedAtMs >= this.options.openMs
    ) {
      this.stateValue = 'half-open';
      this.probeInFlight = false;
    }
    return this.stateValue;
  }

  /**
   * May a request go to this endpoint now? In half-open, the first caller takes the single probe
   * slot (and must report its outcome); everyone else is told no.
   */
  tryAcquire(nowMs: number): { ok: true; probe: boolean } | { ok: false; why: string } {
    if (this.pausedUntilMs !== undefined && nowMs < this.pausedUntilMs) {
      return {
        ok: false,
        why: `server asked to wait (Retry-After) for ${Math.ceil(this.pausedUntilMs - nowMs)} ms more`,
      };
    }
    const s = this.state(nowMs);
    if (s === 'closed') return { ok: true, probe: false };
    if (s === 'open') return { ok: false, why: 'circuit open' };
    if (this.probeInFlight) return { ok: false, why: 'circuit half-open, probe in flight' };
    this.probeInFlight = true;
    return { ok: true, probe: true };
  }

  /** Milliseconds until the endpoint may be tried again (0 if now). */
  waitMs(nowMs: number): number {
    const pause = this.pausedUntilMs !== undefined ? Math.max(0, this.pausedUntilMs - nowMs) : 0;
    const s = this.state(nowMs);
    const open =
      s === 'open' && this.openedAtMs !== undefined ? this.openedAtMs + this.options.openMs - nowMs : 0;
    return Math.max(pause, open, 0);
  }

  success(): void {
    this.consecutive = 0;
    this.push(true);
    // A late success of a request sent before the circuit opened proves little: only the probe closes it.
    if (this.stateValue === 'half-open') {
      this.stateValue = 'closed';
      this.openedAtMs = undefined;
      this.window = [];
    }
    this.probeInFlight = false;
  }

  failure(nowMs: number): void {
    this.consecutive += 1;
    this.push(false);
    if (this.stateValue === 'half-open') {
      this.open(nowMs);
      return;
    }
    if (this.stateValue === 'open') return;
    const failures = this.window.filter((ok) => !ok).length;
    const ratioTrips =
      this.window.length >= this.options.minAttempts &&
      failures / this.window.length >= this.options.failureRatio;
    if (this.consecutive >= this.options.consecutiveFailures || ratioTrips) this.open(nowMs);
  }

  /** The probe ended without a verdict on the endpoint (client left, bad request): free the slot. */
  release(): void {
    this.probeInFlight = false;
  }

  /** Honour a Retry-After: no request to this endpoint before `untilMs`. */
  pause(untilMs: number): void {
    this.pausedUntilMs = Math.max(this.pausedUntilMs ?? 0, untilMs);
  }

  /**
   * Take on a state decided elsewhere (the shared store, another replica): the window and the
   * consecutive count restart, since the decision already accounts for them.
   */
  adopt(snapshot: BreakerSnapshot): void {
    this.stateValue = snapshot.state;
    this.openedAtMs = snapshot.state === 'closed' ? undefined : snapshot.openedAtMs;
    this.consecutive = snapshot.consecutiveFailures;
    if (snapshot.state === 'closed') this.window = [];
    this.probeInFlight = false;
    this.pausedUntilMs = snapshot.pausedUntilMs;
  }

  snapshot(nowMs: number): BreakerSnapshot {
    return {
      state: this.state(nowMs),
      consecutiveFailures: this.consecutive,
      openedAtMs: this.openedAtMs,
      pausedUntilMs:
        this.pausedUntilMs !== undefined && this.pausedUntilMs > nowMs ? this.pausedUntilMs : undefined,
    };
  }

  private open(nowMs: number): void {
    this.stateValue = 'open';
    this.openedAtMs = nowMs;
    this.probeInFlight = false;
  }

  private push(ok: boolean): void {
    this.window.push(ok);
    if (this.window.length > this.options.windowSize) this.window.shift();
  }
}
