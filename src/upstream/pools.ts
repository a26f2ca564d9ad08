// One keep-alive undici Pool per endpoint (per replica of a pool), every one built on the loopback guard's connector, so
// no request of the gateway can leave for an address the guard forbids.
import { Pool } from 'undici';
import type { Endpoint, Replica } from '../fleet/index.ts';
import { guardedConnector } from './guard.ts';

export interface EndpointTarget {
  readonly pool: Pool;
  /** Path prefix of the endpoint's base URL ('' or e.g. '/llm'), without a trailing `/v1`. */
  readonly basePath: string;
  readonly origin: string;
}

export class UpstreamPools {
  private readonly targets = new Map<string, EndpointTarget>();
  private readonly env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.env = env;
  }

  /** The pool for an endpoint (created on first use). Throws for an endpoint without a URL. */
  target(endpoint: Endpoint, replica?: Replica): EndpointTarget {
    const key = replica === undefined ? endpoint.name : `${endpoint.name}#${replica.id}`;
    const existing = this.targets.get(key);
    if (existing) return existing;
    const base = replica?.url ?? endpoint.url;
    if (base === undefined) throw new Error(`endpoint ${endpoint.name} has no URL`);
    const url = new URL(base);
    const basePath = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    const pool = new Pool(url.origin, {
      connect: guardedConnector({ timeout: endpoint.timeouts.connectTimeoutMs }, this.env),
      // The gateway runs its own named timeouts (TTFT, idle, total); undici's would fire on the
      // wrong event (headers arrive before the first token on vLLM).
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      pipelining: 1,
    });
    const target = { pool, basePath, origin: url.origin };
    this.targets.set(key, target);
    return target;
  }

  async close(): Promise<void> {
    const all = [...this.targets.values()];
    this.targets.clear();
    await Promise.all(all.map((t) => t.pool.destroy().catch(() => undefined)));
  }
}
