// What the gateway costs, measured in one run: a simulated vLLM endpoint (its own process), the
// gateway in front of it (`llm-fleet serve`, its own process), and this process as the client
// driving N concurrent streams back to back, first straight to the simulator, then through the
// gateway. Per request, the path latency is the client's TTFT minus the simulator's own TTFT
// (joined on x-request-id through GET /admin/truth), so the simulator's prefill time and queueing
// cancel out; the added latency is the difference of those paths' percentiles. Throughput is
// streamed tokens/s over the level's duration. Then a soak: RSS of the gateway process sampled
// under load.
// Run: node bench/gateway-overhead.ts [--levels 1,64,256,1000] [--seconds 6] [--soak-seconds 30] [--workers 1]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { guardedConnector } from '../src/upstream/guard.ts';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,64,256,1000' },
    seconds: { type: 'string', default: '6' },
    'soak-seconds': { type: 'string', default: '30' },
    workers: { type: 'string', default: '1' },
    'max-tokens': { type: 'string', default: '64' },
    'decode-tps': { type: 'string', default: '100' },
  },
});
const LEVELS = args.levels.split(',').map(Number);
const LEVEL_MS = Number(args.seconds) * 1000;
const SOAK_MS = Number(args['soak-seconds']) * 1000;
const MAX_TOKENS = Number(args['max-tokens']);
const env = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' };
const root = new URL('..', import.meta.url).pathname;
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const agent = new Agent({
  connect: guardedConnector({}, env),
  connections: 4096,
  pipelining: 1,
  headersTimeout: 0,
  bodyTimeout: 0,
});

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await request(`${url}/health`, { dispatcher: agent });
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function start(argv: string[], extraEnv: Record<string, string> = {}, nodeArgs: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin/llm-fleet.js'), ...argv], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

interface Sample {
  readonly id: string;
  readonly sentMs: number;
  readonly firstTokenMs?: number;
  readonly tokens: number;
  /** The gateway's own time for this request (server-timing `gateway;dur`), when through it. */
  readonly gatewayMs?: number;
}

let seq = 0;
async function oneStream(url: string, tag: string): Promise<Sample> {
  const id = `${tag}-${seq++}`;
  const sentMs = performance.timeOrigin + performance.now();
  const r = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({
      model: 'bench-model',
      stream: true,
      max_tokens: MAX_TOKENS,
      ignore_eos: true,
      messages: [{ role: 'user', content: `benchmark prompt ${id}` }],
    }),
  });
  const timing = /gateway;dur=([\d.]+)/.exec(String(r.headers['server-timing'] ?? ''));
  const gatewayMs = timing ? Number(timing[1]) : undefined;
  let firstTokenMs: number | undefined;
  let tokens = 0;
  let buffer = '';
  for await (const chunk of r.body) {
    buffer += (chunk as Buffer).toString('utf8');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const body = JSON.parse(event.slice(6)) as { choices?: { delta?: { content?: string } }[] };
      if (body.choices?.[0]?.delta?.content) {
        tokens++;
        firstTokenMs ??= performance.timeOrigin + performance.now();
      }
    }
  }
  return { id, sentMs, firstTokenMs, tokens, gatewayMs };
}

/** `concurrency` loops each running streams back to back for `durationMs`. */
async function load(
  url: string,
  tag: string,
  concurrency: number,
  durationMs: number,
): Promise<{ samples: Sample[]; elapsedMs: number }> {
  const samples: Sample[] = [];
  const t0 = performance.now();
  const until = t0 + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) samples.push(await oneStream(url, tag));
    }),
  );
  return { samples, elapsedMs: performance.now() - t0 };
}

interface Truth {
  readonly clientRequestId?: string;
  readonly arrivalMs: number;
  readonly ttftMs?: number;
}

async function truth(simUrl: string): Promise<Map<string, Truth>> {
  const r = await request(`${simUrl}/admin/truth`, { dispatcher: agent });
  const list = (await r.body.json()) as Truth[] | { requests: Truth[] };
  const items = Array.isArray(list) ? list : list.requests;
  const del = await request(`${simUrl}/admin/truth`, { method: 'DELETE', dispatcher: agent });
  await del.body.dump();
  return new Map(items.filter((t) => t.clientRequestId).map((t) => [t.clientRequestId as string, t]));
}

function pct(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number);
}

/** Client TTFT minus the simulator's own TTFT: what the path (and the gateway on it) adds. */
function pathMs(samples: Sample[], t: Map<string, Truth>): number[] {
  const out: number[] = [];
  for (const s of samples) {
    const tr = t.get(s.id);
    if (!tr || tr.ttftMs === undefined || s.firstTokenMs === undefined) continue;
    out.push(s.firstTokenMs - s.sentMs - tr.ttftMs);
  }
  return out;
}

/** The gateway's own report of its V8 heap in use (prom-client default metrics). */
async function heapUsedMb(url: string): Promise<number> {
  const r = await request(`${url}/metrics`, { dispatcher: agent });
  const text = await r.body.text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? Number.NaN) / 1024 / 1024;
}

function ownTime(samples: Sample[]): string {
  const own = samples.flatMap((x) => (x.gatewayMs === undefined ? [] : [x.gatewayMs]));
  return `${pct(own, 0.5).toFixed(2)} / ${pct(own, 0.99).toFixed(2)}`;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function main(): Promise<void> {
  const simPort = await freePort();
  const gwPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  const gwUrl = `http://127.0.0.1:${gwPort}`;
  start([
    'sim',
    '--dialect',
    'vllm',
    '--model',
    'bench-model',
    '--port',
    String(simPort),
    '--context',
    '32768',
    '--prefill-overhead-ms',
    '20',
    '--prefill-ms-per-token',
    '0',
    '--ttft-p99-ratio',
    '1',
    '--decode-tps',
    args['decode-tps'],
    '--max-num-seqs',
    '4096',
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-bench-'));
  const fleetFile = join(dir, 'bench.fleet.yaml');
  writeFileSync(
    fleetFile,
    `version: 1
name: bench
hosts:
  local: { address: 127.0.0.1, description: loopback, hardware: none }
endpoints:
  bench:
    env: LLM_BENCH_URL
    host: local
    port: ${simPort}
    model: bench-model
    dialect: vllm
    context: 32K
    maxConcurrency: 4096
    maxQueue: 4096
    timeouts: { ttft: 60s, idle: 60s, total: 10m }
    slo:
      ttft: { p95: 1000ms, p99: 2000ms }
routing:
  rules:
    - { task: code, endpoint: bench }
  default: bench
`,
  );
  const gateway = start(
    ['serve', '-f', fleetFile, '--port', String(gwPort), '--workers', args.workers],
    { LLM_BENCH_URL: simUrl },
    // e.g. BENCH_GATEWAY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the gateway.
    (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
  );
  await waitReady(simUrl);
  await waitReady(gwUrl);
  // Warm both paths (JIT, keep-alive connections).
  await load(simUrl, 'warm-d', 64, 1500);
  await load(gwUrl, 'warm-g', 64, 1500);
  await truth(simUrl);

  console.log(
    `gateway overhead: sim (vLLM dialect, ${args['decode-tps']} tok/s, ${MAX_TOKENS} tokens/stream) in its own process,`,
  );
  console.log(
    `gateway (llm-fleet serve, ${args.workers} worker(s)) in its own process, client here; ${LEVEL_MS / 1000} s per level and path.\n`,
  );
  const rows: string[][] = [];
  for (const c of LEVELS) {
    const direct = await load(simUrl, `d${c}`, c, LEVEL_MS);
    const dTruth = await truth(simUrl);
    const via = await load(gwUrl, `g${c}`, c, LEVEL_MS);
    const gTruth = await truth(simUrl);
    const dPath = pathMs(direct.samples, dTruth);
    const gPath = pathMs(via.samples, gTruth);
    const dTps = (direct.samples.reduce((s, x) => s + x.tokens, 0) * 1000) / direct.elapsedMs;
    const gTps = (via.samples.reduce((s, x) => s + x.tokens, 0) * 1000) / via.elapsedMs;
    const dTtft = direct.samples
      .filter((s) => s.firstTokenMs)
      .map((s) => (s.firstTokenMs as number) - s.sentMs);
    const gTtft = via.samples.filter((s) => s.firstTokenMs).map((s) => (s.firstTokenMs as number) - s.sentMs);
    rows.push([
      String(c),
      `${direct.samples.length}/${via.samples.length}`,
      `${pct(dTtft, 0.5).toFixed(1)} / ${pct(gTtft, 0.5).toFixed(1)}`,
      (pct(gPath, 0.5) - pct(dPath, 0.5)).toFixed(2),
      (pct(gPath, 0.99) - pct(dPath, 0.99)).toFixed(2),
      `${dTps.toFixed(0)} / ${gTps.toFixed(0)}`,
      `${((100 * gTps) / dTps).toFixed(1)}%`,
      ownTime(via.samples),
    ]);
    console.log(`  level ${c} done`);
  }
  const head = [
    'streams',
    'requests d/g',
    'TTFT P50 ms d/g',
    'added P50 ms',
    'added P99 ms',
    'tok/s d/g',
    'throughput',
    'own P50/P99 ms',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  console.log(`\n${line(head)}`);
  for (const r of rows) console.log(line(r));
  console.log('\nadded = P(client TTFT − simulator TTFT) through the gateway − the same percentile direct.');
  console.log(
    "own = the gateway's own time to the first token (server-timing gateway;dur): parse, route, relay.",
  );

  if (SOAK_MS > 0 && gateway.pid !== undefined && args.workers === '1') {
    const pid = gateway.pid;
    const samples: number[] = [];
    const heapBefore = await heapUsedMb(gwUrl);
    const sampler = setInterval(() => samples.push(rssMb(pid)), 1000);
    const soak = await load(gwUrl, 'soak', 256, SOAK_MS);
    clearInterval(sampler);
    await truth(simUrl);
    // Idle a moment so the young generation is collected before the heap is read again.
    await new Promise((r) => setTimeout(r, 3000));
    const heapAfter = await heapUsedMb(gwUrl);
    const first = samples.slice(0, Math.max(1, Math.floor(samples.length / 5)));
    const last = samples.slice(-Math.max(1, Math.floor(samples.length / 5)));
    const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    console.log(
      `\nsoak: ${SOAK_MS / 1000} s at 256 streams through the gateway, ${soak.samples.length} requests; gateway RSS ` +
        `first fifth ${avg(first).toFixed(1)} MB, last fifth ${avg(last).toFixed(1)} MB, max ${Math.max(...samples).toFixed(1)} MB; ` +
        `V8 heap in use ${heapBefore.toFixed(1)} MB before, ${heapAfter.toFixed(1)} MB after`,
    );
  }
}

try {
  await main();
} finally {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 20_000).unref();
        }),
    ),
  );
  await agent.close();
}
