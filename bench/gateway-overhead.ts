// What the gateway costs, measured in one run: a simulated vLLM endpoint (its own process), the
// gateway in front of it (`llm-fleet serve`, its own process), and this process as the client
// driving N concurrent streams back to back: straight to the simulator, through the gateway, and
// through two baselines in their own processes (bench/baseline-proxies.ts): a raw TCP relay (the
// floor of any user-space hop on this machine) and a do-nothing Node HTTP proxy. Paths alternate
// in rounds within each level, so a noisy neighbour hits them all alike.
// Per request, the path latency is the client's TTFT minus the simulator's own TTFT (joined on
// x-request-id through GET /admin/truth), so the simulator's prefill time and queueing cancel
// out; the added latency is the difference of those paths' percentiles against direct.
// Throughput is streamed tokens/s over the level's time; CPU is each process's user+system time
// (/proc) per streamed token. Then a soak: the gateway's RSS, minute by minute, under load.
// Run: node bench/gateway-overhead.ts [--levels 1,16,64,256,1000] [--seconds 6] [--rounds 3]
//        [--paths gateway,node-proxy,tcp-relay] [--soak-seconds 300] [--workers 1]
//        [--decode-tps 100] [--max-tokens 64] [--base-root /work/main]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { guardedConnector } from '../src/upstream/guard.ts';
import { freePort } from '../test/support/ports.ts';
import {
  benchSimArgv,
  cpuUs,
  drainTruth,
  pct,
  waitReady,
  writeBenchFleet,
  type SimTruth,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,16,64,256,1000' },
    seconds: { type: 'string', default: '6' },
    'soak-seconds': { type: 'string', default: '300' },
    workers: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    paths: { type: 'string', default: 'gateway,node-proxy,tcp-relay' },
    'max-tokens': { type: 'string', default: '64' },
    'decode-tps': { type: 'string', default: '100' },
    'base-root': { type: 'string' },
  },
});
const LEVELS = args.levels.split(',').map(Number);
const LEVEL_MS = Number(args.seconds) * 1000;
const SOAK_MS = Number(args['soak-seconds']) * 1000;
const ROUNDS = Math.max(1, Number(args.rounds));
// `gateway-base`: the gateway of another checkout (--base-root, e.g. the main branch's worktree),
// run beside this one's in the same alternating rounds, so a change is measured before and after
// under the same load.
type HopName = 'gateway' | 'gateway-base' | 'node-proxy' | 'tcp-relay';
type PathName = 'direct' | HopName;
const BASE_ROOT = args['base-root'];
const PATHS = [
  ...(args.paths.split(',').filter(Boolean) as HopName[]),
  ...(BASE_ROOT ? (['gateway-base'] as const) : []),
];
for (const p of PATHS) {
  if (!['gateway', 'gateway-base', 'node-proxy', 'tcp-relay'].includes(p))
    throw new Error(`unknown path ${p}`);
}
const MAX_TOKENS = Number(args['max-tokens']);
const env = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' };
const root = new URL('..', import.meta.url).pathname;
const children: ChildProcess[] = [];

const agent = new Agent({
  connect: guardedConnector({}, env),
  connections: 4096,
  pipelining: 1,
  headersTimeout: 0,
  bodyTimeout: 0,
});

function start(
  argv: string[],
  extraEnv: Record<string, string> = {},
  nodeArgs: string[] = [],
  from = root,
): ChildProcess {
  const child = spawn(process.execPath, [...nodeArgs, join(from, 'bin/llm-fleet.js'), ...argv], {
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
/** Everything each URL served in this run, warm-up and soak included (for bench/profile-summary.ts). */
const served = new Map<string, { requests: number; tokens: number }>();
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
  const total = served.get(url) ?? { requests: 0, tokens: 0 };
  total.requests += 1;
  total.tokens += tokens;
  served.set(url, total);
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

/** Client TTFT minus the simulator's own TTFT: what the path (and the gateway on it) adds. */
function pathMs(samples: Sample[], t: Map<string, SimTruth>): number[] {
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

/** Busy and total jiffies of the whole machine. */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const v = line.split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

interface PathRun {
  samples: Sample[];
  elapsedMs: number;
  tokens: number;
  /** CPU of the hop's own process (the proxy), µs. */
  hopCpuUs: number;
  simCpuUs: number;
  clientCpuUs: number;
  machineBusy: number;
  machineTotal: number;
  truth: Map<string, SimTruth>;
}

function emptyRun(): PathRun {
  return {
    samples: [],
    elapsedMs: 0,
    tokens: 0,
    hopCpuUs: 0,
    simCpuUs: 0,
    clientCpuUs: 0,
    machineBusy: 0,
    machineTotal: 0,
    truth: new Map(),
  };
}

function startBaseline(kind: 'node-proxy' | 'tcp-relay', upstream: string, port: number): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      // e.g. BENCH_BASELINE_NODE_ARGS='--cpu-prof --cpu-prof-dir=DIR': the floor's profile beside the gateway's.
      ...(process.env.BENCH_BASELINE_NODE_ARGS ?? '').split(' ').filter(Boolean),
      join(root, 'bench/baseline-proxies.ts'),
      kind,
      upstream,
      String(port),
    ],
    {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(child);
  return child;
}

async function main(): Promise<void> {
  const simPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  const sim = start([
    ...benchSimArgv(simPort, args['decode-tps']),
    // The continuous-batching engine's step budget and KV cache sized so they never bind at any
    // level (1000 streams × ~80 tokens overflow vLLM's default 2 contexts of KV and would preempt):
    // the bench measures the hops, so the upstream must not be what limits them.
    '--max-num-batched-tokens',
    '1048576',
    '--kv-cache-tokens',
    '4194304',
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-bench-'));
  const fleetFile = writeBenchFleet(dir, 'bench', simPort);
  const urls = new Map<PathName, { url: string; pid: number }>();
  urls.set('direct', { url: simUrl, pid: sim.pid as number });
  let gatewayPid: number | undefined;
  let gatewayUrl: string | undefined;
  for (const path of PATHS) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child =
      path === 'gateway' || path === 'gateway-base'
        ? start(
            [
              'serve',
              '-f',
              fleetFile,
              '--port',
              String(port),
              '--workers',
              args.workers,
              '--store',
              join(dir, `${path}.db`),
            ],
            { LLM_BENCH_URL: simUrl },
            // e.g. BENCH_GATEWAY_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the gateway.
            path === 'gateway' ? (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean) : [],
            path === 'gateway' ? root : BASE_ROOT,
          )
        : startBaseline(path as 'node-proxy' | 'tcp-relay', simUrl, port);
    if (path === 'gateway') {
      gatewayPid = child.pid;
      gatewayUrl = url;
      gatewayUrlForTotals = url;
    }
    urls.set(path, { url, pid: child.pid as number });
  }
  // Every path answers /health: the gateway itself, the baselines by relaying the simulator's.
  for (const { url } of urls.values()) await waitReady(url, agent);
  // Warm every path (JIT, keep-alive connections).
  for (const [path, { url }] of urls) await load(url, `warm-${path}`, 64, 1500);
  await drainTruth(simUrl, agent);

  const order: PathName[] = ['direct', ...PATHS];
  console.log(
    `gateway overhead: sim (vLLM dialect, ${args['decode-tps']} tok/s per stream, ${MAX_TOKENS} tokens/stream), ` +
      `${order.join(', ')}; ${LEVEL_MS / 1000} s per level and path in ${ROUNDS} alternating rounds; ` +
      `${availableParallelism()} cores, load ${loadavg()[0]?.toFixed(2)}.`,
  );
  console.log(
    `gateway = llm-fleet serve (${args.workers} worker(s)); each hop, the simulator and this client in their own process.\n`,
  );
  const rows: string[][] = [];
  /** Per level and hop: what the targets compare (gateway against node-proxy). */
  const figures = new Map<string, TargetFigures>();
  for (const c of LEVELS) {
    const runs = new Map<PathName, PathRun>(order.map((p) => [p, emptyRun()]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of order) {
        const { url, pid } = urls.get(path) as { url: string; pid: number };
        const run = runs.get(path) as PathRun;
        const hop0 = path === 'direct' ? 0 : cpuUs(pid);
        const sim0 = cpuUs(sim.pid as number);
        const client0 = process.cpuUsage();
        const m0 = machineTicks();
        const result = await load(url, `${path}-${c}-${round}`, c, LEVEL_MS / ROUNDS);
        const m1 = machineTicks();
        const client = process.cpuUsage(client0);
        run.clientCpuUs += client.user + client.system;
        run.simCpuUs += cpuUs(sim.pid as number) - sim0;
        if (path !== 'direct') run.hopCpuUs += cpuUs(pid) - hop0;
        run.machineBusy += m1.busy - m0.busy;
        run.machineTotal += m1.total - m0.total;
        run.samples.push(...result.samples);
        run.elapsedMs += result.elapsedMs;
        run.tokens += result.samples.reduce((sum, x) => sum + x.tokens, 0);
        for (const [id, t] of await drainTruth(simUrl, agent)) run.truth.set(id, t);
      }
    }
    const direct = runs.get('direct') as PathRun;
    const dPath = pathMs(direct.samples, direct.truth);
    const dTps = (direct.tokens * 1000) / direct.elapsedMs;
    for (const path of order) {
      const run = runs.get(path) as PathRun;
      const p = pathMs(run.samples, run.truth);
      const tps = (run.tokens * 1000) / run.elapsedMs;
      const ttft = run.samples.flatMap((s) => (s.firstTokenMs ? [s.firstTokenMs - s.sentMs] : []));
      const perToken = (us: number) => (run.tokens > 0 ? (us / run.tokens).toFixed(1) : '-');
      if (path !== 'direct')
        figures.set(`${c} ${path}`, {
          addedP50: pct(p, 0.5) - pct(dPath, 0.5),
          addedP99: pct(p, 0.99) - pct(dPath, 0.99),
          throughputPct: (100 * tps) / dTps,
          cpuPerTokenUs: run.hopCpuUs / Math.max(1, run.tokens),
          cpuPerRequestUs: run.hopCpuUs / Math.max(1, run.samples.length),
        });
      rows.push([
        path === 'direct' ? String(c) : '',
        path,
        String(run.samples.length),
        pct(ttft, 0.5).toFixed(1),
        path === 'direct' ? '' : (pct(p, 0.5) - pct(dPath, 0.5)).toFixed(2),
        path === 'direct' ? '' : (pct(p, 0.99) - pct(dPath, 0.99)).toFixed(2),
        tps.toFixed(0),
        path === 'direct' ? '' : `${((100 * tps) / dTps).toFixed(1)}%`,
        path === 'direct' ? '' : perToken(run.hopCpuUs),
        `${perToken(run.simCpuUs)} / ${perToken(run.clientCpuUs)}`,
        `${((100 * run.machineBusy) / Math.max(1, run.machineTotal)).toFixed(0)}%`,
        path.startsWith('gateway') ? ownTime(run.samples) : '',
      ]);
    }
    console.log(`  level ${c} done`);
  }
  const head = [
    'streams',
    'path',
    'requests',
    'TTFT P50 ms',
    'added P50 ms',
    'added P99 ms',
    'tok/s',
    'throughput',
    'hop CPU µs/tok',
    'sim / client µs/tok',
    'machine busy',
    'own P50/P99 ms',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  console.log(`\n${line(head)}`);
  for (const r of rows) console.log(line(r));
  console.log(
    '\nadded = P(client TTFT − simulator TTFT) on the path − the same percentile direct; throughput = tok/s vs direct.',
  );
  console.log(
    "hop CPU = the hop process's user+system CPU per streamed token; own = the gateway's own time to the first token\n" +
      '(server-timing gateway;dur: parse, route, relay). tcp-relay: raw TCP pipe; node-proxy: do-nothing node:http + undici proxy.',
  );
  if (PATHS.includes('gateway') && PATHS.includes('node-proxy')) printTargets(figures);

  if (SOAK_MS > 0 && gatewayPid !== undefined && gatewayUrl !== undefined && args.workers === '1') {
    const pid = gatewayPid;
    const idleRss = rssMb(pid);
    const samples: number[] = [];
    const heapBefore = await heapUsedMb(gatewayUrl);
    // Each minute as it ends, so a long soak's log shows its course (and keeps it if cut off).
    const sampler = setInterval(() => {
      samples.push(rssMb(pid));
      if (samples.length % 60 === 0) {
        const minute = samples.slice(-60);
        console.log(
          `soak minute ${samples.length / 60}: gateway RSS ${(minute.reduce((a, b) => a + b, 0) / 60).toFixed(1)} MB ` +
            `(load ${loadavg()[0]?.toFixed(2)})`,
        );
      }
    }, 1000);
    const soak = await load(gatewayUrl, 'soak', 256, SOAK_MS);
    clearInterval(sampler);
    await drainTruth(simUrl, agent);
    // Idle a moment so the young generation is collected before the heap is read again.
    await new Promise((r) => setTimeout(r, 3000));
    const heapAfter = await heapUsedMb(gatewayUrl);
    const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
    const minutes: string[] = [];
    for (let m = 0; m * 60 < samples.length; m++)
      minutes.push(avg(samples.slice(m * 60, m * 60 + 60)).toFixed(1));
    const half = Math.floor(samples.length / 2);
    const secondHalf = samples.slice(half);
    console.log(
      `\nsoak: ${SOAK_MS / 1000} s at 256 streams through the gateway, ${soak.samples.length} requests.\n` +
        `gateway RSS: ${idleRss.toFixed(0)} MB before; per minute ${minutes.join(' → ')} MB; ` +
        `second half ${Math.min(...secondHalf).toFixed(0)}–${Math.max(...secondHalf).toFixed(0)} MB ` +
        `(drift ${(((avg(samples.slice(-30)) - avg(samples.slice(half, half + 30))) / avg(samples.slice(half, half + 30))) * 100).toFixed(1)}% from its start to its end); ` +
        `V8 heap in use ${heapBefore.toFixed(1)} MB before, ${heapAfter.toFixed(1)} MB after.`,
    );
    if (process.env.BENCH_SNAPSHOT) {
      // Leak hunting: BENCH_GATEWAY_NODE_ARGS=--heapsnapshot-signal=SIGUSR2 BENCH_SNAPSHOT=1
      process.kill(pid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 15000));
    }
  }
}

/** What the issue-16 targets compare, per level and hop. */
interface TargetFigures {
  readonly addedP50: number;
  readonly addedP99: number;
  readonly throughputPct: number;
  readonly cpuPerTokenUs: number;
  readonly cpuPerRequestUs: number;
}

/** The issue-16 targets, each as the gateway's figure against the do-nothing proxy's from the same run. */
function printTargets(figures: Map<string, TargetFigures>): void {
  const ratio = (g: number, n: number, bound: number): string =>
    n <= 0
      ? `n/a (node-proxy added ${n.toFixed(2)} ms)`
      : `${(g / n).toFixed(2)}× ${g / n <= bound ? 'met' : 'NOT met'}`;
  const lines: string[] = [];
  for (const c of LEVELS) {
    const g = figures.get(`${c} gateway`);
    const n = figures.get(`${c} node-proxy`);
    if (!g || !n) continue;
    const parts = [
      `added TTFT P50 ${ratio(g.addedP50, n.addedP50, 1.25)} (≤ 1.25×)`,
      `P99 ${ratio(g.addedP99, n.addedP99, 1.5)} (≤ 1.5×)`,
    ];
    if (c >= 64) {
      const points = g.throughputPct - n.throughputPct;
      parts.push(
        `throughput ${points.toFixed(1)} points vs node-proxy ${points >= -2 ? 'met' : 'NOT met'} (within 2)`,
      );
    }
    parts.push(
      `CPU per request ${ratio(g.cpuPerRequestUs, n.cpuPerRequestUs, 1.2)}, per token ${ratio(g.cpuPerTokenUs, n.cpuPerTokenUs, 1.2)} (≤ 1.2×: per request at 64, per token at 256)`,
    );
    lines.push(`  ${c} streams: ${parts.join('; ')}`);
  }
  console.log(
    `\ntargets (gateway against node-proxy in this run; load ${loadavg()[0]?.toFixed(2)}):\n${lines.join('\n')}`,
  );
}

let gatewayUrlForTotals: string | undefined;
try {
  await main();
} finally {
  const total = gatewayUrlForTotals === undefined ? undefined : served.get(gatewayUrlForTotals);
  if (total) {
    console.log(
      `\nthrough the gateway in all (warm-up and soak included): ${total.requests} requests, ${total.tokens} token events`,
    );
  }
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
