// The clock an engine runs on: the simulator's precise real-time scheduler for served endpoints, or
// a virtual clock for tests and models that must not depend on how busy the machine is.
import type { Scheduled } from '../clock.ts';
import { nowMs, runAt } from '../clock.ts';

export interface EngineClock {
  nowMs(): number;
  /** Runs `run` at `atMs` (the clock's own milliseconds). */
  at(atMs: number, run: () => void): Scheduled;
}

export const REAL_CLOCK: EngineClock = { nowMs, at: (atMs, run) => runAt(atMs, () => run()) };

interface VirtualEntry extends Scheduled {
  readonly atMs: number;
  readonly seq: number;
  readonly run: () => void;
}

/**
 * Virtual time: nothing runs until `runUntil`, which runs every callback due by then in time order
 * (ties in the order they were scheduled) and leaves the clock at that time. Deterministic.
 */
export class VirtualClock implements EngineClock {
  private now = 0;
  private seq = 0;
  private readonly queue: VirtualEntry[] = [];

  nowMs(): number {
    return this.now;
  }

  at(atMs: number, run: () => void): Scheduled {
    const entry: VirtualEntry = { atMs: Math.max(atMs, this.now), seq: this.seq++, run, cancelled: false };
    // Binary insertion keeps the queue sorted; a test's queue stays small.
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.queue[mid] as VirtualEntry;
      if (m.atMs < entry.atMs || (m.atMs === entry.atMs && m.seq < entry.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, entry);
    return entry;
  }

  /** Runs everything due up to `untilMs` (inclusive) and moves the clock there. */
  runUntil(untilMs: number): void {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.queue.shift();
      this.now = next.atMs;
      if (!next.cancelled) next.run();
    }
    this.now = Math.max(this.now, untilMs);
  }

  /** Runs until nothing is left to run (or `limitMs` is reached). */
  runAll(limitMs = Number.MAX_SAFE_INTEGER): void {
    while (this.queue.some((e) => !e.cancelled) && this.now < limitMs) {
      const next = this.queue.find((e) => !e.cancelled);
      if (next === undefined) break;
      this.runUntil(Math.min(next.atMs, limitMs));
    }
  }
}
