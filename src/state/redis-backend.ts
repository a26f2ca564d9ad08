// The Redis backend (`--state redis://host:port`, node-redis): every operation one Lua script
// (redis-scripts.ts), events on one pub/sub channel. Commands fail at once while the connection
// is down (no offline queue: a request must never wait for Redis to come back); the client
// reconnects by itself and the front (shared-state.ts) resynchronises on its next heartbeat.
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { reading } from './rate-bucket.ts';
import * as scripts from './redis-scripts.ts';
import type {
  AdmitReply,
  AdmitRequest,
  BackendOptions,
  BreakerSnapshotWire,
  FinishReply,
  FinishRequest,
  HeartbeatReply,
  RateVerdict,
  ReplicaHoldings,
  Reserve,
  ReserveRelease,
  Settlement,
  StateBackend,
  StateEvent,
} from './types.ts';

type Client = ReturnType<typeof createClient>;

export interface RedisBackendOptions extends BackendOptions {
  readonly url: string;
  /** Names the keys (several fleets may share one Redis). */
  readonly fleet: string;
  /** Every endpoint name (the heartbeat restates and reads them all). */
  readonly endpoints: readonly string[];
  readonly connectTimeoutMs?: number;
}

interface RateLevels {
  allowed: boolean;
  retryAfterMs: number;
  rpm: number;
  tpm: number;
  requests: string;
  tokens: string;
}

type RawReply =
  | { kind: 'granted'; probe: boolean; rate?: RateLevels; reserved?: Reserve }
  | { kind: 'queued' | 'full'; rate?: RateLevels }
  | { kind: 'refused'; why: string; breaker: BreakerSnapshotWire; rate?: RateLevels }
  | { kind: 'rate_limited'; rate: RateLevels };

function verdictOf(levels: RateLevels): RateVerdict {
  return {
    allowed: levels.allowed,
    retryAfterMs: levels.retryAfterMs,
    ...(levels.rpm > 0 ? { requests: reading(Number(levels.requests), levels.rpm) } : {}),
    ...(levels.tpm > 0 ? { tokens: reading(Number(levels.tokens), levels.tpm) } : {}),
  };
}

/** A redis:// URL without its password, for /health and logs. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis (unparsable URL)';
  }
}

export class RedisBackend implements StateBackend {
  readonly mode = 'redis' as const;
  private readonly options: RedisBackendOptions;
  private readonly client: Client;
  private readonly subscriber: Client;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly shas = new Map<string, string>();
  private readonly listeners = new Set<(event: StateEvent) => void>();
  private closed = false;
  private subscribed = false;
  lastError: string | undefined;
  /** Round trips made, per script (what the bench counts per request). */
  readonly calls = new Map<string, number>();

  constructor(options: RedisBackendOptions) {
    this.options = options;
    this.prefix = `llm-fleet:{${options.fleet}}:`;
    this.channel = `${this.prefix}events`;
    const socket = {
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      // Keep trying, never faster than every 100 ms nor slower than every second.
      reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 1_000),
    };
    this.client = createClient({ url: options.url, socket, disableOfflineQueue: true });
    this.subscriber = createClient({ url: options.url, socket });
    for (const c of [this.client, this.subscriber]) {
      c.on('error', (e: unknown) => {
        this.lastError = e instanceof Error ? e.message : String(e);
      });
    }
    for (const [name, text] of Object.entries(scripts)) {
      this.shas.set(name, createHash('sha1').update(text).digest('hex'));
    }
  }

  /** Connects (in the background if Redis is not there yet; the front falls back meanwhile). */
  start(): void {
    void this.client.connect().catch((e: unknown) => {
      this.lastError = String(e);
    });
    void this.subscriber
      .connect()
      .then(() =>
        this.subscriber.subscribe(this.channel, (message) => {
          let event: StateEvent;
          try {
            event = JSON.parse(message) as StateEvent;
          } catch {
            return;
          }
          for (const l of this.listeners) {
            try {
              l(event);
            } catch {
              // A listener's bug must not stop the subscription.
            }
          }
        }),
      )
      .then(() => {
        this.subscribed = true;
      })
      .catch((e: unknown) => {
        this.lastError = String(e);
      });
  }

  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !(this.client.isReady && this.subscribed)) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private key(kind: string, name: string): string {
    return `${this.prefix}${kind}:${name}`;
  }

  private async run(
    name: keyof typeof scripts,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const sha = this.shas.get(name) as string;
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    const argv = [String(keys.length), ...keys, ...args];
    try {
      return await this.client.sendCommand(['EVALSHA', sha, ...argv]);
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.client.sendCommand(['EVAL', scripts[name], ...argv]);
    }
  }

  async admit(request: AdmitRequest): Promise<AdmitReply> {
    const e = request.endpoint;
    const rate = request.rate;
    const settlements = request.settlements ?? [];
    const keys = [
      this.key('b', e),
      this.key('s', e),
      this.key('q', e),
      `${this.prefix}alive`,
      this.key('r', rate?.bucket ?? '-'),
      ...settlements.map((s) => this.key('r', s.bucket)),
    ];
    const args = [
      request.replica,
      String(request.slots.maxConcurrency),
      String(request.slots.maxQueue),
      request.fromQueue ? '1' : '0',
      String(this.options.breaker.openMs),
      String(this.options.probeLeaseMs),
      rate ? '1' : '0',
      String(rate?.limit.requestsPerMinute ?? 0),
      String(rate?.limit.tokensPerMinute ?? 0),
      String(Math.max(0, Math.round(rate?.tokens ?? 0))),
      String(request.reserve?.slots ?? 0),
      String(request.reserve?.requests ?? 0),
      ...settlements.flatMap((s) => [
        String(s.limit.requestsPerMinute ?? 0),
        String(s.limit.tokensPerMinute ?? 0),
        String(Math.round(s.deltaTokens)),
      ]),
    ];
    const raw = JSON.parse(String(await this.run('ADMIT', keys, args))) as RawReply;
    const withRate = raw.rate ? { rate: verdictOf(raw.rate) } : {};
    switch (raw.kind) {
      case 'rate_limited':
        return { kind: 'rate_limited', rate: verdictOf(raw.rate) };
      case 'granted':
        return {
          kind: 'granted',
          probe: raw.probe,
          ...withRate,
          ...(raw.reserved ? { reserved: raw.reserved } : {}),
        };
      case 'refused':
        return { kind: 'refused', why: raw.why, breaker: raw.breaker, ...withRate };
      default:
        return { kind: raw.kind, ...withRate };
    }
  }

  async finish(request: FinishRequest): Promise<FinishReply> {
    const e = request.endpoint;
    const b = this.options.breaker;
    const out = await this.run(
      'FINISH',
      [this.key('b', e), this.key('s', e), this.key('q', e)],
      [
        request.replica,
        request.verdict,
        request.probe ? '1' : '0',
        String(Math.max(0, Math.round(request.pauseMs ?? 0))),
        String(b.openMs),
        String(b.consecutiveFailures),
        String(b.failureRatio),
        String(b.windowSize),
        String(b.minAttempts),
        e,
        this.channel,
        String(request.keep?.maxConcurrency ?? 0),
      ],
    );
    return JSON.parse(String(out)) as FinishReply;
  }

  async release(release: ReserveRelease): Promise<void> {
    const slots = Object.entries(release.slots).filter(([, n]) => n > 0);
    if (slots.length === 0 && release.buckets.length === 0) return;
    await this.run(
      'RELEASE',
      [
        ...slots.flatMap(([e]) => [this.key('s', e), this.key('q', e)]),
        ...release.buckets.map((b) => this.key('r', b.bucket)),
      ],
      [
        release.replica,
        this.channel,
        String(slots.length),
        ...slots.flatMap(([e, n]) => [e, String(n)]),
        ...release.buckets.flatMap((b) => [
          String(b.limit.requestsPerMinute ?? 0),
          String(b.limit.tokensPerMinute ?? 0),
          String(b.requests),
          String(Math.round(b.tokens)),
        ]),
      ],
    );
  }

  async leaveQueue(replica: string, endpoint: string): Promise<void> {
    await this.run('LEAVE_QUEUE', [this.key('q', endpoint)], [replica]);
  }

  async settle(settlements: readonly Settlement[]): Promise<void> {
    if (settlements.length === 0) return;
    await this.run(
      'SETTLE',
      settlements.map((s) => this.key('r', s.bucket)),
      settlements.flatMap((s) => [
        String(s.limit.requestsPerMinute ?? 0),
        String(s.limit.tokensPerMinute ?? 0),
        String(Math.round(s.deltaTokens)),
      ]),
    );
  }

  async leases(replica: string, endpoints: readonly string[], ttlMs: number): Promise<readonly string[]> {
    if (endpoints.length === 0) return [];
    const out = await this.run('LEASES', [`${this.prefix}leases`], [replica, String(ttlMs), ...endpoints]);
    return (out as string[]).map(String);
  }

  async publish(event: StateEvent): Promise<void> {
    await this.client.publish(this.channel, JSON.stringify(event));
  }

  async heartbeat(holdings: ReplicaHoldings): Promise<HeartbeatReply> {
    const names = this.options.endpoints;
    const keys = [
      `${this.prefix}alive`,
      ...names.flatMap((e) => [this.key('b', e), this.key('s', e), this.key('q', e)]),
    ];
    const args = [
      holdings.replica,
      String(holdings.ttlMs),
      holdings.restate ? '1' : '0',
      String(this.options.breaker.openMs),
      ...names.flatMap((e) => {
        const held = holdings.endpoints[e];
        const opened = holdings.opened[e];
        return [
          e,
          String(held?.inFlight ?? 0),
          String(held?.queued ?? 0),
          String(opened?.openRemainingMs ?? (opened ? 0 : -1)),
          String(opened?.consecutiveFailures ?? 0),
        ];
      }),
    ];
    const reply = JSON.parse(String(await this.run('HEARTBEAT', keys, args))) as {
      breakers: Record<string, BreakerSnapshotWire> | [];
      replicas: number;
    };
    return { breakers: Array.isArray(reply.breakers) ? {} : reply.breakers, replicas: reply.replicas };
  }

  async usage(
    endpoints: readonly string[],
  ): Promise<Readonly<Record<string, { inFlight: number; queued: number }>>> {
    const keys = [`${this.prefix}alive`, ...endpoints.flatMap((e) => [this.key('s', e), this.key('q', e)])];
    const raw = JSON.parse(String(await this.run('USAGE', keys, []))) as number[][] | Record<string, never>;
    const rows = Array.isArray(raw) ? raw : [];
    return Object.fromEntries(
      endpoints.map((e, i) => [e, { inFlight: rows[i]?.[0] ?? 0, queued: rows[i]?.[1] ?? 0 }]),
    );
  }

  subscribe(listener: (event: StateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    // A clean close waits for the replies of commands sent (the reserve given back on the way out);
    // with Redis gone it would wait for ever, so a stopping replica waits a second at most.
    for (const c of [this.client, this.subscriber]) {
      if (!c.isOpen) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 1_000)));
      const outcome = await Promise.race([c.close().then(() => 'closed' as const), late]).catch(
        () => 'failed',
      );
      clearTimeout(timer);
      if (outcome !== 'closed' && c.isOpen) c.destroy();
    }
  }
}
