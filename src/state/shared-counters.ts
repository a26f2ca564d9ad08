// Fleet-wide sums of per-replica counters that change on every request (the load ledger's
// in-flight and queued-token counts per endpoint): each replica keeps its own counts exact and
// local, publishes them every `periodMs`, and adds the other replicas' last published values.
// Shared periodically, not atomically: a sum is at most one period (plus the event's delivery)
// old, a replica that stops publishing drops out after three periods, and without a shared
// backend (or cut off from it) the sum is this replica's own.
import type { SharedState } from './shared-state.ts';
import type { CounterValues } from './types.ts';

export interface SharedCountersOptions {
  /** Names the counters on the channel (one name per kind of counter). */
  readonly name: string;
  /** This replica's current values (called every period). */
  readonly read: () => CounterValues;
  readonly periodMs?: number;
  readonly now?: () => number;
}

export class SharedCounters {
  private readonly state: SharedState;
  private readonly options: SharedCountersOptions;
  private readonly now: () => number;
  private readonly periodMs: number;
  private readonly others = new Map<string, { values: CounterValues; atMs: number }>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribe: () => void;

  constructor(state: SharedState, options: SharedCountersOptions) {
    this.state = state;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.periodMs = options.periodMs ?? 250;
    this.unsubscribe = state.onCounter((from, name, values) => {
      if (name === options.name) this.others.set(from, { values, atMs: this.now() });
    });
    this.timer = setInterval(() => this.publish(), this.periodMs);
    this.timer.unref();
  }

  /** Publish now (also done every period). */
  publish(): void {
    this.state.publishCounter(this.options.name, this.options.read());
  }

  /** The other replicas' part of `field` (their last published values, while fresh). */
  elsewhere(field: string): number {
    const staleBefore = this.now() - 3 * this.periodMs;
    let sum = 0;
    for (const [from, entry] of this.others) {
      if (entry.atMs < staleBefore) {
        this.others.delete(from);
        continue;
      }
      sum += entry.values[field] ?? 0;
    }
    return sum;
  }

  /** This replica's value plus the others': the fleet-wide count as of at most one period ago. */
  total(field: string): number {
    return (this.options.read()[field] ?? 0) + this.elsewhere(field);
  }

  /** Replicas heard from within three periods (this one excluded). */
  replicasHeard(): number {
    this.elsewhere('');
    return this.others.size;
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }
}
