// Embeddings batching as TEI's router does it (router/src/infer.rs, queue.rs): requests queue, and
// whenever the backend is free the next batch takes queued requests first come first served while
// their tokens fit `max_batch_tokens` (16384 by default; the first always goes); the backend runs one
// batch at a time and every request in it completes when it ends. Concurrent requests therefore
// share a batch instead of waiting for one batch each.
import type { Scheduled } from '../clock.ts';
import type { EngineClock } from './engine-clock.ts';

/** TEI's --max-batch-tokens default. */
export const TEI_MAX_BATCH_TOKENS = 16_384;

export interface EmbedJob {
  readonly inputs: number;
  readonly tokens: number;
  /** Its batch started (`queuedMs` after it was submitted) and will end at `doneAtMs`. */
  onStart(atMs: number, queuedMs: number, doneAtMs: number): void;
  onDone(atMs: number): void;
}

interface Entry {
  readonly job: EmbedJob;
  readonly submittedAtMs: number;
  gone: boolean;
}

export class EmbedBatcher {
  private readonly queue: Entry[] = [];
  private busy = false;
  private timer: Scheduled | undefined;
  private readonly maxBatchTokens: number;
  /** Duration of one batch of this many inputs (jitter included). */
  private readonly batchMs: (inputs: number) => number;
  private readonly clock: EngineClock;
  private readonly onQueue: ((queuedInputs: number) => void) | undefined;

  constructor(
    maxBatchTokens: number,
    batchMs: (inputs: number) => number,
    clock: EngineClock,
    onQueue?: (queuedInputs: number) => void,
  ) {
    this.maxBatchTokens = maxBatchTokens;
    this.batchMs = batchMs;
    this.clock = clock;
    this.onQueue = onQueue;
  }

  submit(job: EmbedJob): { release(): void } {
    const entry: Entry = { job, submittedAtMs: this.clock.nowMs(), gone: false };
    this.queue.push(entry);
    this.publish();
    if (!this.busy) this.next(this.clock.nowMs());
    return {
      release: () => {
        entry.gone = true;
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        this.publish();
      },
    };
  }

  stop(): void {
    if (this.timer) this.timer.cancelled = true;
    this.queue.length = 0;
    this.busy = false;
  }

  private publish(): void {
    this.onQueue?.(this.queue.reduce((n, e) => n + e.job.inputs, 0));
  }

  private next(startMs: number): void {
    const batch: Entry[] = [];
    let tokens = 0;
    while (this.queue.length > 0) {
      const head = this.queue[0] as Entry;
      if (batch.length > 0 && tokens + head.job.tokens > this.maxBatchTokens) break;
      this.queue.shift();
      batch.push(head);
      tokens += head.job.tokens;
    }
    this.publish();
    if (batch.length === 0) {
      this.busy = false;
      return;
    }
    this.busy = true;
    const endMs = startMs + this.batchMs(batch.reduce((n, e) => n + e.job.inputs, 0));
    for (const e of batch) e.job.onStart(startMs, startMs - e.submittedAtMs, endMs);
    this.timer = this.clock.at(endMs, () => {
      this.timer = undefined;
      for (const e of batch) if (!e.gone) e.job.onDone(endMs);
      this.next(endMs);
    });
  }
}
