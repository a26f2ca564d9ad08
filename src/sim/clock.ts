// Precise timing for the simulator. Token writes are scheduled at absolute times (no per-token
// setTimeout drift): one process-wide heap of due callbacks, a coarse setTimeout while the next one
// is far away, then setImmediate turns that nap in short futex waits for the last stretch, so a
// callback runs within a fraction of a millisecond of its time even with thousands of streams
// (setTimeout alone is late by ~1 ms) without burning a core on a busy loop.
import { performance } from 'node:perf_hooks';

/** Milliseconds on the monotonic clock (performance.now()). */
export function nowMs(): number {
  return performance.now();
}

/** Converts a monotonic time to epoch milliseconds with sub-millisecond precision (ground truth). */
export function toEpochMs(monotonicMs: number): number {
  return performance.timeOrigin + monotonicMs;
}

/** Below this distance to the next due time we stop trusting setTimeout and turn with setImmediate. */
const SPIN_WINDOW_MS = 2;
/**
 * Inside that window each turn naps (a futex wait, not a busy loop) for at most this long, so the
 * CPU is not burnt spinning and I/O waits no longer than a nap.
 */
const NAP_SLICE_MS = 0.25;
/** Wake this much before the due time (a futex wake-up takes ~50–80 µs); the rest is a short spin. */
const NAP_EARLY_MS = 0.1;
const NAP_CELL = new Int32Array(new SharedArrayBuffer(4));

export interface Scheduled {
  cancelled: boolean;
}

interface Entry extends Scheduled {
  readonly atMs: number;
  readonly seq: number;
  readonly run: (lateMs: number) => void;
}

class Scheduler {
  private heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private armedForMs = Infinity;

  at(atMs: number, run: (lateMs: number) => void): Scheduled {
    const entry: Entry = { atMs, seq: this.seq++, run, cancelled: false };
    this.push(entry);
    this.arm();
    return entry;
  }

  private tick = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    this.armedForMs = Infinity;
    const now = nowMs();
    // Run everything due now; callbacks may schedule more (they land in the heap and wait their turn).
    let budget = this.heap.length;
    while (budget-- > 0) {
      const top = this.heap[0];
      if (top === undefined || top.atMs > now) break;
      this.pop();
      if (!top.cancelled) top.run(now - top.atMs);
    }
    this.arm();
  };

  private napThenTick = (): void => {
    const top = this.heap[0];
    if (top !== undefined) {
      const waitMs = top.atMs - nowMs() - NAP_EARLY_MS;
      if (waitMs > 0.01) Atomics.wait(NAP_CELL, 0, 0, Math.min(waitMs, NAP_SLICE_MS));
    }
    this.tick();
  };

  private arm(): void {
    // Drop cancelled entries at the top so a closed server does not keep the loop spinning.
    while (this.heap[0]?.cancelled) this.pop();
    const top = this.heap[0];
    if (top === undefined) {
      if (this.timer) clearTimeout(this.timer);
      if (this.immediate) clearImmediate(this.immediate);
      this.timer = undefined;
      this.immediate = undefined;
      this.armedForMs = Infinity;
      return;
    }
    if (this.immediate) return;
    const waitMs = top.atMs - nowMs();
    if (waitMs <= SPIN_WINDOW_MS) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(this.napThenTick);
      this.armedForMs = top.atMs;
      return;
    }
    if (this.timer && this.armedForMs <= top.atMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedForMs = top.atMs;
    this.timer = setTimeout(this.tick, Math.max(0, waitMs - SPIN_WINDOW_MS));
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (before(p, entry)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(heap[r] as Entry, heap[l] as Entry) ? r : l;
      const c = heap[child] as Entry;
      if (before(last, c)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = last;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

const scheduler = new Scheduler();

/** Runs `run` at monotonic time `atMs` (see nowMs); `lateMs` tells how late it actually ran. */
export function runAt(atMs: number, run: (lateMs: number) => void): Scheduled {
  return scheduler.at(atMs, run);
}
