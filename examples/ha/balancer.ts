// A tiny round-robin HTTP balancer in front of gateway replicas, for examples/ha and its tests — a
// stand-in for the nginx/HAProxy/cloud load balancer a real deployment has, loopback only.
//
// What it must get right (and a naive proxy gets wrong): a replica that dies mid-stream reaches the
// client as an aborted connection (TCP reset), never as a clean end of the response, so an SSE
// client cannot mistake a cut answer for a whole one. A replica that refuses the connection is
// skipped (the request, buffered, goes to the next one) and rested for `restMs`; once a response
// has begun nothing is retried. Each response says which replica served it
// (`x-llm-fleet-balancer-upstream`: its index).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isLoopbackHost } from '../../src/upstream/guard.ts';

/** Largest request body buffered for a retry on the next replica. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

export interface BalancerOptions {
  readonly port?: number;
  /** Default 127.0.0.1; only loopback addresses are accepted. */
  readonly host?: string;
  /** How long a replica that refused a connection is skipped (default 2 s). */
  readonly restMs?: number;
}

export interface Balancer {
  readonly url: string;
  /** Requests sent to each replica so far. */
  counts(): readonly number[];
  close(): Promise<void>;
}

function headersOf(message: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(message.headers))
    if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
  return out;
}

/** Ends the client's connection with a reset: what it sees when the replica behind us died. */
function abort(socket: Socket): void {
  if (socket.destroyed) return;
  socket.resetAndDestroy();
}

export async function startBalancer(
  upstreams: readonly string[],
  options: BalancerOptions = {},
): Promise<Balancer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) throw new Error(`the example balancer listens on loopback only, not ${host}`);
  const targets = upstreams.map((u) => new URL(u));
  for (const t of targets)
    if (!isLoopbackHost(t.hostname))
      throw new Error(`the example balancer forwards to loopback only, not ${t.host}`);
  const restMs = options.restMs ?? 2_000;
  const restingUntil = targets.map(() => 0);
  const counts = targets.map(() => 0);
  // A new loopback connection per request: a kept-alive socket the replica closes just as it is
  // reused would fail a request the replica never saw, indistinguishable from a replica's death.
  const agent = new Agent({ keepAlive: false });
  let next = 0;

  /** Replicas in round-robin order from the next one, resting ones last (all may be resting). */
  function order(): number[] {
    const start = next;
    next = (next + 1) % targets.length;
    const all = targets.map((_, i) => (start + i) % targets.length);
    const now = Date.now();
    return [...all.filter((i) => restingUntil[i]! <= now), ...all.filter((i) => restingUntil[i]! > now)];
  }

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, candidates: number[]): void {
    const index = candidates[0];
    if (index === undefined) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: 'no gateway replica accepted the connection',
            type: 'balancer_error',
            code: 'no_upstream',
          },
        }),
      );
      return;
    }
    const target = targets[index] as URL;
    let started = false;
    const upstream = request({
      agent,
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...headersOf(req), 'content-length': String(body.length) },
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (started) return; // handled by the response's 'close'
      if (error.code === 'ECONNREFUSED') {
        // Nothing of this request reached the replica: the next one gets it.
        restingUntil[index] = Date.now() + restMs;
        forward(req, res, body, candidates.slice(1));
        return;
      }
      // The replica had the request and died before answering: it may have been acted on, so it
      // is not sent again; the client gets an explicit error.
      restingUntil[index] = Date.now() + restMs;
      res.writeHead(502, { 'content-type': 'application/json', connection: 'close' });
      res.end(
        JSON.stringify({
          error: {
            message: `gateway replica ${index} failed before answering (${error.code ?? error.message})`,
            type: 'balancer_error',
            code: 'upstream_failed',
          },
        }),
      );
    });
    upstream.on('response', (upstreamRes) => {
      started = true;
      counts[index] = (counts[index] ?? 0) + 1;
      res.writeHead(upstreamRes.statusCode ?? 502, {
        ...headersOf(upstreamRes),
        'x-llm-fleet-balancer-upstream': String(index),
      });
      res.flushHeaders();
      upstreamRes.pipe(res);
      // The replica's socket closed before its response was complete (it died, or was cut): the
      // client must see a broken connection, not `res.end()`.
      upstreamRes.on('close', () => {
        if (!upstreamRes.complete) abort(req.socket);
      });
    });
    // The client went away: so does the upstream request (the gateway sees the cancel).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
        res.end(
          JSON.stringify({
            error: { message: 'request body too large for the balancer', type: 'balancer_error' },
          }),
        );
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => forward(req, res, Buffer.concat(chunks), order()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    counts: () => [...counts],
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
