// Per-endpoint concurrency limit with a bounded FIFO queue. A request beyond `maxConcurrency`
// waits in the queue; beyond `maxQueue` it is refused at once (the gateway then tries another
// candidate, or answers 429 with Retry-After), so a burst never piles up without bound.

export class ConcurrencyLimit {
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  private active = 0;
  private readonly waiting: { resolve: (release: () => void) => void; reject: (e: Error) => void }[] = [];

  constructor(maxConcurrency: number, maxQueue: number) {
    this.maxConcurrency = maxConcurrency;
    this.maxQueue = maxQueue;
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * A slot, or undefined when the queue is full. The returned promise resolves with the release
   * function once a slot is free; an aborted signal removes the waiter from the queue.
   */
  acquire(signal?: AbortSignal): Promise<() => void> | undefined {
    if (this.active < this.maxConcurrency) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue) return undefined;
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject };
      this.waiting.push(entry);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            reject(new Error('cancelled while queued'));
          }
        },
        { once: true },
      );
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve(this.releaser());
      else this.active -= 1;
    };
  }
}
