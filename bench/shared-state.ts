// What sharing the gateway's state in Redis costs, measured in one run against the in-process
// state of the same run: a simulated vLLM endpoint (its own process), a real redis-server, and
// `llm-fleet serve` gateways in their own processes — one with in-process state (the baseline),
// one with `--state redis://…`, and two replicas sharing that Redis (streams dealt alternately).
// Every request carries an API key with a (never reached) per-key limit, so the hot path is the
// whole of it: the key's bucket, the breaker and the slot in one script, and the slot's release.
// Per request, the path latency is the client's TTFT minus the simulator's own TTFT (joined on
// x-request-id via GET /admin/truth); CPU is the gateway processes' (and Redis's) user+system time
// per request from /proc; round trips before dispatch are the attempts the gateway admitted with
// a call to Redis, against those it admitted from its reserve (`llm_fleet_state_admissions_total`).
// Paths alternate in rounds within each level, so a noisy neighbour hits them all alike.
// Run: node bench/shared-state.ts [--levels 1,64,256] [--seconds 5] [--rounds 2]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { guardedConnector } from '../src/upstream/guard.ts';
import { freePort } from '../test/support/ports.ts';
import { redisMissing, startRedis } from '../test/support/redis.ts';
import { benchSimArgv, cpuUs, drainTruth, pct, waitReady, writeBenchFleet } from './support.ts';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,64,256' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    'max-tokens': { type: 'string', default: '16' },
  },
});
const LEVELS = args.levels.split(',').map(Number);
const LEVEL_MS = Number(args.seconds) * 1000;
const ROUNDS = Math.max(1, Number(args.rounds));
const MAX_TOKENS = Number(args['max-tokens']);
const KEY = 'sk-bench-shared-state';
const env = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' };
const root = new URL('..', import.meta.url).pathname;
const children: ChildProcess[] = [];

type PathName = 'in-process' | 'redis' | 'redis x2';
const PATHS: PathName[] = ['in-process', 'redis', 'redis x2'];

const agent = new Agent({
  connect: guardedConnector({}, env),
  connections: 4096,
  pipelining: 1,
  headersTimeout: 0,
  bodyTimeout: 0,
});

function start(argv: string[]): ChildProcess {
  const child = spawn(process.execPath, [join(root, 'bin/llm-fleet.js'), ...argv], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

interface Sample {
  readonly id: string;
  readonly sentMs: number;
  readonly firstTokenMs?: number;
  readonly status: number;
  /** The gateway's own time for the request (server-timing `gateway;dur`). */
  readonly gatewayMs?: number;
}

let seq = 0;
async function oneStream(url: string, tag: string): Promise<Sample> {
  const id = `${tag}-${seq++}`;
  const sentMs = performance.timeOrigin + performance.now();
  const r = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-request-id': id, authorization: `Bearer ${KEY}` },
    body: JSON.stringify({
      model: 'bench-model',
      stream: true,
      max_tokens: MAX_TOKENS,
      ignore_eos: true,
      messages: [{ role: 'user', content: `benchmark prompt ${id}` }],
    }),
  });
  const timing = /gateway;dur=([\d.]+)/.exec(String(r.headers['server-timing'] ?? ''));
  let firstTokenMs: number | undefined;
  let buffer = '';
  for await (const chunk of r.body) {
    buffer += (chunk as Buffer).toString('utf8');
    if (firstTokenMs === undefined && buffer.includes('"content":"')) {
      firstTokenMs = performance.timeOrigin + performance.now();
    }
  }
  return {
    id,
    sentMs,
    firstTokenMs,
    status: r.statusCode,
    ...(timing ? { gatewayMs: Number(timing[1]) } : {}),
  };
}

async function load(
  urls: readonly string[],
  tag: string,
  concurrency: number,
  durationMs: number,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      // Two replicas: each stream loop stays with one, half the loops on each (as a balancer would).
      const url = urls[i % urls.length] as string;
      while (performance.now() < until) samples.push(await oneStream(url, tag));
    }),
  );
  return samples;
}

interface PathRun {
  pathMs: number[];
  ownMs: number[];
  requests: number;
  errors: number;
  gatewayCpuUs: number;
  redisCpuUs: number;
  /** Attempts admitted with a round trip to Redis / from the reserve / on local state. */
  admissions: Record<string, number>;
}

/** The gateways' `llm_fleet_state_admissions_total` by `via`, summed. */
async function admissions(urls: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const url of urls) {
    const r = await request(`${url}/metrics`, { dispatcher: agent });
    const text = await r.body.text();
    for (const m of text.matchAll(/^llm_fleet_state_admissions_total\{via="(\w+)"\} (\d+)/gm)) {
      out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
    }
  }
  return out;
}

/** Share of attempts that waited on Redis before dispatch ('—' for the in-process path). */
function roundTrips(admitted: Record<string, number>): string {
  const total = Object.values(admitted).reduce((a, b) => a + b, 0);
  if (total === 0) return '—';
  const local = admitted.local ? ` (${admitted.local} local)` : '';
  return `${((admitted.backend ?? 0) / total).toFixed(3)}${local}`;
}

async function main(): Promise<void> {
  const missing = redisMissing();
  if (missing) {
    console.error(`bench/shared-state: ${missing}`);
    process.exitCode = 2;
    return;
  }
  const redis = await startRedis();
  const simPort = await freePort();
  const simUrl = `http://127.0.0.1:${simPort}`;
  const sim = start(benchSimArgv(simPort, 200));
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-bench-state-'));
  const fleetFile = writeBenchFleet(
    dir,
    'bench-state',
    simPort,
    `gateway:
  apiKeys:
    - { key: ${KEY}, name: bench, requestsPerMinute: 100000000, tokensPerMinute: 1000000000 }
`,
  );
  const serve = async (extra: string[]): Promise<{ url: string; pid: number }> => {
    const port = await freePort();
    const child = start([
      'serve',
      '-f',
      fleetFile,
      '--port',
      String(port),
      '--no-monitor',
      '--store',
      ':memory:',
      '--log-format',
      'off',
      ...extra,
    ]);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, agent);
    return { url, pid: child.pid as number };
  };
  await waitReady(simUrl, agent);
  const memory = await serve([]);
  const shared = await serve(['--state', redis.url]);
  const pair = [await serve(['--state', redis.url]), await serve(['--state', redis.url])];
  const targets: Record<PathName, { url: string; pid: number }[]> = {
    'in-process': [memory],
    redis: [shared],
    'redis x2': pair,
  };
  console.log(
    `bench/shared-state: ${availableParallelism()} cores (load ${loadavg()[0]?.toFixed(2)}), ${LEVEL_MS / 1000} s per path per round, ${ROUNDS} rounds, ${MAX_TOKENS} tokens per stream; redis-server ${redis.url}`,
  );
  // Warm-up: scripts loaded, connections open, JIT warm.
  for (const p of PATHS)
    await load(
      targets[p].map((t) => t.url),
      'warm',
      8,
      1000,
    );
  await drainTruth(simUrl, agent);

  const results: Record<string, Record<PathName, PathRun>> = {};
  for (const level of LEVELS) {
    const runs = Object.fromEntries(
      PATHS.map((p) => [
        p,
        {
          pathMs: [],
          ownMs: [],
          requests: 0,
          errors: 0,
          gatewayCpuUs: 0,
          redisCpuUs: 0,
          admissions: {},
        } as PathRun,
      ]),
    ) as Record<PathName, PathRun>;
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of PATHS) {
        const pids = targets[p].map((t) => t.pid);
        const cpu0 = pids.reduce((s, pid) => s + cpuUs(pid), 0);
        const redis0 = cpuUs(redis.pid());
        const urls = targets[p].map((t) => t.url);
        const admitted0 = await admissions(urls);
        const samples = await load(
          targets[p].map((t) => t.url),
          `${p}-${level}-${round}`,
          level,
          LEVEL_MS,
        );
        const run = runs[p];
        run.gatewayCpuUs += pids.reduce((s, pid) => s + cpuUs(pid), 0) - cpu0;
        run.redisCpuUs += cpuUs(redis.pid()) - redis0;
        const admitted1 = await admissions(urls);
        for (const [via, n] of Object.entries(admitted1))
          run.admissions[via] = (run.admissions[via] ?? 0) + n - (admitted0[via] ?? 0);
        const t = await drainTruth(simUrl, agent);
        for (const s of samples) {
          run.requests += 1;
          if (s.status !== 200 || s.firstTokenMs === undefined) {
            run.errors += 1;
            continue;
          }
          const simTtft = t.get(s.id)?.ttftMs;
          if (simTtft !== undefined) run.pathMs.push(s.firstTokenMs - s.sentMs - simTtft);
          if (s.gatewayMs !== undefined) run.ownMs.push(s.gatewayMs);
        }
      }
    }
    results[String(level)] = runs;
    const base = runs['in-process'];
    const baseP50 = pct(base.pathMs, 0.5);
    const baseCpu = base.gatewayCpuUs / Math.max(1, base.requests);
    const baseOwn = pct(base.ownMs, 0.5);
    console.log(`\n${level} concurrent streams`);
    console.log(
      'path        requests errors  path P50 ms  P99 ms   added P50 ms  P50 ratio  own P50 ms  added  gateway CPU µs/req  ratio  +redis µs/req  round trips/attempt',
    );
    for (const p of PATHS) {
      const r = runs[p];
      const p50 = pct(r.pathMs, 0.5);
      const cpu = r.gatewayCpuUs / Math.max(1, r.requests);
      console.log(
        `${p.padEnd(11)} ${String(r.requests).padStart(8)} ${String(r.errors).padStart(6)}  ${p50.toFixed(2).padStart(11)}  ${pct(r.pathMs, 0.99).toFixed(2).padStart(6)}   ${(p50 - baseP50).toFixed(2).padStart(12)}  ${(p50 / baseP50).toFixed(2).padStart(9)}  ${pct(r.ownMs, 0.5).toFixed(2).padStart(10)}  ${(pct(r.ownMs, 0.5) - baseOwn).toFixed(2).padStart(5)}  ${cpu.toFixed(0).padStart(18)}  ${(cpu / baseCpu).toFixed(2).padStart(5)}  ${(r.redisCpuUs / Math.max(1, r.requests)).toFixed(0).padStart(13)}  ${roundTrips(r.admissions).padStart(19)}`,
      );
    }
  }
  const at64 = results['64'];
  if (at64) {
    const added = pct(at64.redis.pathMs, 0.5) - pct(at64['in-process'].pathMs, 0.5);
    console.log(
      `\ntarget: ≤ 1 ms added at P50 with 64 streams (Redis-backed against in-process, same run): ${added.toFixed(2)} ms — ${added <= 1 ? 'met' : 'NOT met'} (2 shared cores: noisy)`,
    );
  }
  for (const c of children) c.kill('SIGTERM');
  void sim;
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
  await agent.close();
}

main().catch(async (error: unknown) => {
  console.error(error);
  for (const c of children) c.kill('SIGKILL');
  process.exitCode = 1;
});
