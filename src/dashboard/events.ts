// Live updates as server-sent events: `health` on every up/down change (at once), and `refresh` on
// a fixed beat so the page re-reads the view it shows. Events carry little data on purpose: the
// page fetches the aggregated view, so there is one code path for the first load and every update.
import type { ServerResponse } from 'node:http';
import type { FleetHealthState } from '../probes/types.ts';

export class EventHub {
  readonly #clients = new Set<ServerResponse>();
  readonly #health: FleetHealthState | undefined;
  readonly #refreshIntervalMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #beats = 0;

  constructor(health: FleetHealthState | undefined, refreshIntervalMs: number, now: () => number) {
    this.#health = health;
    this.#refreshIntervalMs = refreshIntervalMs;
    this.#now = now;
  }

  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies (nginx) buffer event streams unless told not to.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 3000\n\n`);
    this.#send(res, 'health', this.#snapshot());
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stop();
    });
    this.#start();
  }

  /** Ends every open stream (gateway shutdown: server.close() waits for them otherwise). */
  close(): void {
    for (const res of this.#clients) res.end();
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    if (this.#timer) return;
    this.#unsubscribe = this.#health?.subscribe((change) =>
      this.#broadcast('health', { ...this.#snapshot(), change }),
    );
    this.#timer = setInterval(() => {
      this.#beats += 1;
      this.#broadcast('refresh', { atMs: this.#now(), beat: this.#beats });
    }, this.#refreshIntervalMs);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #snapshot(): { atMs: number; states: Record<string, string> } {
    return { atMs: this.#now(), states: Object.fromEntries(this.#health?.states() ?? []) };
  }

  #broadcast(event: string, data: unknown): void {
    for (const res of this.#clients) this.#send(res, event, data);
  }

  #send(res: ServerResponse, event: string, data: unknown): void {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
