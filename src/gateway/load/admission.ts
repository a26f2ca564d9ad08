// The gateway's admission queue: requests for which no candidate has headroom wait here (bounded,
// each with a TTL) and are decided again whenever capacity frees anywhere — late binding, so a
// waiting request goes wherever frees first. Interactive requests are tried before batch ones, and
// a full queue sheds its newest batch request to make room for an interactive one.
import type { Priority } from '../../fleet/index.ts';

/** Decide again: a value admits the request, undefined keeps it waiting, a ShedError sheds it. */
export type Retry<T> = () => T | undefined;

/**
 * Why a queued request was shed: the queue was full, its TTL passed, an interactive request took its
 * place, or no candidate could answer within its TTFT target any more.
 */
export type ShedReason = 'queue_full' | 'ttl' | 'displaced' | 'late';

/** The queue's figures for /metrics and GET /fleet/load. */
export interface AdmissionFigures {
  /** Requests waiting now, per priority. */
  readonly waiting: Record<Priority, number>;
  /** Held, then dispatched when capacity freed. */
  readonly admittedAfterWait: number;
  readonly shed: Record<ShedReason, number>;
}

export class ShedError extends Error {
  readonly why: ShedReason;
  constructor(why: ShedError['why'], message: string) {
    super(message);
    this.why = why;
  }
}

interface Entry<T> {
  readonly priority: Priority;
  readonly retry: Retry<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
  done: boolean;
}

/** Entries tried per release: a bound on the work capacity freeing costs. */
const TRIES_PER_RELEASE = 16;

export class AdmissionQueue<T> {
  readonly maxQueue: number;
  readonly ttlMs: number;
  private readonly interactive: Entry<T>[] = [];
  private readonly batch: Entry<T>[] = [];
  private scheduled = false;
  /** Counters for /metrics and /fleet/load. */
  admittedAfterWait = 0;
  readonly shed: Record<ShedReason, number> = { queue_full: 0, ttl: 0, displaced: 0, late: 0 };

  constructor(maxQueue: number, ttlMs: number) {
    this.maxQueue = maxQueue;
    this.ttlMs = ttlMs;
  }

  get length(): number {
    return this.interactive.length + this.batch.length;
  }

  /** Waiting now, and what the queue has admitted and shed so far. */
  figures(): AdmissionFigures {
    return {
      waiting: { interactive: this.interactive.length, batch: this.batch.length },
      admittedAfterWait: this.admittedAfterWait,
      shed: { ...this.shed },
    };
  }

  /** Wait until `retry` gives a value (tried whenever capacity frees), the TTL passes, or the signal aborts. */
  wait(priority: Priority, retry: Retry<T>, signal: AbortSignal, ttlMs = this.ttlMs): Promise<T> {
    if (this.length >= this.maxQueue) {
      const victim = priority === 'interactive' ? this.batch.pop() : undefined;
      if (!victim) {
        this.shed.queue_full += 1;
        return Promise.reject(
          new ShedError('queue_full', `the gateway's admission queue is full (${this.maxQueue})`),
        );
      }
      this.shed.displaced += 1;
      this.settle(victim, new ShedError('displaced', 'shed to make room for interactive traffic'));
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Entry<T> = { priority, retry, resolve, reject, done: false };
      (priority === 'batch' ? this.batch : this.interactive).push(entry);
      entry.timer = setTimeout(() => {
        this.shed.ttl += 1;
        this.settle(entry, new ShedError('ttl', `no capacity freed within ${ttlMs} ms`));
      }, ttlMs);
      entry.timer.unref();
      signal.addEventListener('abort', () => this.settle(entry, new Error('cancelled while queued')), {
        once: true,
      });
    });
  }

  /** Capacity may have freed: decide again for the waiting requests (on the next macrotask). */
  released(): void {
    if (this.scheduled || this.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    let tries = 0;
    for (const list of [this.interactive, this.batch]) {
      for (const entry of [...list]) {
        if (tries++ >= TRIES_PER_RELEASE) return;
        let value: T | undefined;
        try {
          value = entry.retry();
        } catch (error) {
          if (!(error instanceof ShedError)) throw error;
          this.shed[error.why] += 1;
          this.settle(entry, error);
          continue;
        }
        if (value === undefined) continue;
        this.admittedAfterWait += 1;
        this.settle(entry, undefined, value);
        // One at a time: the admitted request counts itself in the ledger before the next decides.
        this.released();
        return;
      }
    }
  }

  private settle(entry: Entry<T>, error?: Error, value?: T): void {
    if (entry.done) return;
    entry.done = true;
    if (entry.timer) clearTimeout(entry.timer);
    const list = entry.priority === 'batch' ? this.batch : this.interactive;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (error) entry.reject(error);
    else entry.resolve(value as T);
  }
}
