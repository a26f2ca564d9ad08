// How much one simulator process sustains on one core: concurrent streams and streamed tokens/s
// with the simulator's own timing error (actual write time − scheduled time, from its ground
// truth) under 1 ms at P99. The simulator runs in its own process pinned to one core (taskset when
// available); this process is the load generator, pinned to the other. Baseline measured in the
// same run: a naive server that chains one setTimeout per token (the usual way to fake a stream),
// at the same load. Also the precise TTFT check: client-measured TTFT percentiles at
// single-request load against the latency model's closed form.
// Run: node bench/sim-capacity.ts [--levels 250x50,500x50,1000x50,1500x50,2000x50,250x250] [--seconds 5]
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import type { LatencyModel } from '../src/sim/index.ts';
import { latencyModel, startSimEndpoint, ttftQuantileMs } from '../src/sim/index.ts';
import { guardedConnector } from '../src/upstream/guard.ts';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '250x50,500x50,1000x50,1500x50,2000x50,250x250' },
    seconds: { type: 'string', default: '5' },
    'max-tokens': { type: 'string', default: '100' },
    'ttft-samples': { type: 'string', default: '300' },
    serve: { type: 'string' },
    'decode-tps': { type: 'string' },
  },
});

/** Latency for the capacity levels: a quick first token, then decode at the level's rate. */
function benchLatency(decodeTokensPerSecond: number): Partial<LatencyModel> {
  return {
    prefillOverheadMs: 5,
    prefillMsPerToken: 0,
    ttftJitterP99Ratio: 1,
    decodeTokensPerSecond,
    decodeRateJitterP99Ratio: 1,
    itlJitterP99Ratio: 1.2,
    maxNumSeqs: 1_000_000,
    batchSlowdownAtFull: 1,
  };
}

// ---------- child: the server under test ----------

if (args.serve !== undefined) {
  const tps = Number(args['decode-tps'] ?? 50);
  if (args.serve === 'probe') {
    process.stdout.write(`${JSON.stringify(await schedulerProbe())}\n`);
    process.exit(0);
  } else if (args.serve === 'sim') {
    const sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'bench',
      seed: 1,
      latency: benchLatency(tps),
      // The simulator's own cost is measured, not vLLM's limits: no KV pressure, no step budget.
      engine: { kvCacheTokens: 1 << 30, maxNumBatchedTokens: 1 << 30 },
      maxTruthRecords: 1_000_000,
    });
    process.stdout.write(`${sim.url}\n`);
  } else {
    process.stdout.write(`${await startNaiveServer(1000 / tps)}\n`);
  }
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

/**
 * Machine noise: the simulator's scheduler alone (20 timers at 50 Hz for 2 s, no HTTP) on the
 * pinned core. If this is already over 1 ms at P99, the machine is too busy to verify the target.
 */
async function schedulerProbe(): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  const { nowMs, runAt } = await import('../src/sim/clock.ts');
  const late: number[] = [];
  const until = nowMs() + 2_000;
  for (let s = 0; s < 20; s++) {
    let t = nowMs() + 5 + s;
    const step = (l: number): void => {
      late.push(l);
      t += 20;
      if (t < until) runAt(t, step);
    };
    runAt(t, step);
  }
  await new Promise((r) => setTimeout(r, 2_100));
  late.sort((a, b) => a - b);
  const q = (p: number): number => late[Math.min(late.length - 1, Math.floor(p * late.length))] ?? NaN;
  return { p50Ms: q(0.5), p99Ms: q(0.99), maxMs: late.at(-1) ?? NaN };
}

/** The baseline: one chained setTimeout per token, lateness against the absolute schedule. */
async function startNaiveServer(itlMs: number): Promise<string> {
  let truth: { tokenLatenessMs: number[] }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/admin/truth') {
      if (req.method === 'DELETE') truth = [];
      const body = req.method === 'DELETE' ? '{}' : JSON.stringify({ requests: truth });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const maxTokens = (JSON.parse(raw) as { max_tokens: number }).max_tokens;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      const record = { tokenLatenessMs: [] as number[] };
      const start = performance.now() + 5;
      let i = 0;
      const step = (): void => {
        record.tokenLatenessMs.push(performance.now() - (start + i * itlMs));
        res.write(
          `data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null,"token_ids":null}]}\n\n`,
        );
        i++;
        if (i < maxTokens) setTimeout(step, itlMs);
        else {
          res.end('data: [DONE]\n\n');
          truth.push(record);
        }
      };
      setTimeout(step, 5);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

// ---------- parent: the load generator ----------

interface LevelResult {
  readonly server: 'sim' | 'naive';
  readonly streams: number;
  readonly perStreamTps: number;
  readonly offeredTps: number;
  readonly deliveredTps: number;
  readonly latenessP50Ms: number;
  readonly latenessP99Ms: number;
  readonly latenessMaxMs: number;
  readonly errors: number;
  readonly simCpuPercent: number;
  /** Server CPU time per delivered token: robust to other processes taking the core. */
  readonly cpuMicrosPerToken: number;
}

async function main(): Promise<void> {
  const levels = args.levels.split(',').map((l) => {
    const [streams, tps] = l.split('x').map(Number);
    return { streams: streams as number, tps: tps as number };
  });
  const levelMs = Number(args.seconds) * 1000;
  const maxTokens = Number(args['max-tokens']);
  const pinning = cpus().length >= 2;
  console.log(
    `sim-capacity: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(
        ' ',
      )}; server pinned to core 0${pinning ? ', load generator to core 1' : ' (not pinned: one core)'}`,
  );
  if (pinning) spawn('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });

  const probe = await runProbe(pinning);
  console.log(
    `\nMachine noise (the scheduler alone, no HTTP, on the server's core): lateness P50 ${fmt(probe.p50Ms)}, P99 ${fmt(probe.p99Ms)}, max ${fmt(probe.maxMs)}`,
  );
  await ttftCheck(Number(args['ttft-samples']));

  const results: LevelResult[] = [];
  for (const level of levels) {
    for (const server of ['sim', 'naive'] as const) {
      results.push(await runLevel(server, level.streams, level.tps, levelMs, maxTokens, pinning));
    }
  }
  console.log('\nCapacity (server timing error = actual write − scheduled time, from its own ground truth):');
  console.log(
    'server  streams  tok/s/stream  offered tok/s  delivered tok/s  error P50   error P99   error max  errors  server CPU  CPU µs/token',
  );
  for (const r of results) {
    console.log(
      `${r.server.padEnd(6)}  ${String(r.streams).padStart(7)}  ${String(r.perStreamTps).padStart(12)}  ${r.offeredTps.toFixed(0).padStart(13)}  ${r.deliveredTps.toFixed(0).padStart(15)}  ${fmt(r.latenessP50Ms)}  ${fmt(r.latenessP99Ms)}  ${fmt(r.latenessMaxMs)}  ${String(r.errors).padStart(6)}  ${r.simCpuPercent.toFixed(0).padStart(9)}%  ${r.cpuMicrosPerToken.toFixed(1).padStart(12)}`,
    );
  }
  const ok = results.filter(
    (r) =>
      r.server === 'sim' && r.latenessP99Ms < 1 && r.deliveredTps >= 0.95 * r.offeredTps && r.errors === 0,
  );
  const bestStreams = Math.max(0, ...ok.map((r) => r.streams));
  const bestTps = Math.max(0, ...ok.map((r) => r.deliveredTps));
  const simRuns = results.filter((r) => r.server === 'sim' && Number.isFinite(r.cpuMicrosPerToken));
  // Idle time between tokens only adds to the per-token figure, so the lowest level is the best
  // estimate of what a token costs.
  const micros = Math.min(...simRuns.map((r) => r.cpuMicrosPerToken));
  if (Number.isFinite(micros)) {
    console.log(
      `\nServer CPU per streamed token (lowest over levels): ${micros.toFixed(1)} µs → one dedicated core could stream about ${(1e6 / micros).toFixed(0)} tokens/s.`,
    );
  }
  if (probe.p99Ms >= 1) {
    console.log(
      `Machine noise P99 is ${probe.p99Ms.toFixed(1)} ms with no load at all: other processes hold the cores, so the timing-error figures above measure the machine, not the simulator. Re-run on a quiet machine to verify the < 1 ms target.`,
    );
  }
  console.log(
    `\nSustained with timing error P99 < 1 ms: up to ${bestStreams} concurrent streams, up to ${bestTps.toFixed(0)} streamed tokens/s (targets: ≥ 1000 streams, ≥ 50,000 tokens/s).`,
  );
}

async function runProbe(pin: boolean): Promise<{ p50Ms: number; p99Ms: number; maxMs: number }> {
  const script = new URL(import.meta.url).pathname;
  const cmd = pin ? 'taskset' : process.execPath;
  const argv = [...(pin ? ['-c', '0', process.execPath] : []), script, '--serve', 'probe'];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return JSON.parse(out) as { p50Ms: number; p99Ms: number; maxMs: number };
}

function fmt(ms: number): string {
  return `${ms.toFixed(3)} ms`.padStart(10);
}

async function startChild(
  kind: 'sim' | 'naive',
  tps: number,
  pin: boolean,
): Promise<{ url: string; child: ChildProcess }> {
  const script = new URL(import.meta.url).pathname;
  const cmd = pin ? 'taskset' : process.execPath;
  const argv = [
    ...(pin ? ['-c', '0', process.execPath] : []),
    script,
    '--serve',
    kind,
    '--decode-tps',
    String(tps),
  ];
  const child = spawn(cmd, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { url, child };
}

function cpuSeconds(pid: number): Promise<number> {
  // utime + stime from /proc (Linux); 0 elsewhere.
  return import('node:fs').then(({ readFileSync }) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  });
}

async function runLevel(
  kind: 'sim' | 'naive',
  streams: number,
  tps: number,
  levelMs: number,
  maxTokens: number,
  pin: boolean,
): Promise<LevelResult> {
  const { url, child } = await startChild(kind, tps, pin);
  const agent = new Agent({
    connect: guardedConnector(),
    connections: streams + 10,
    pipelining: 1,
    keepAliveTimeout: 10_000,
  });
  let tokens = 0;
  let errors = 0;
  const body = JSON.stringify({
    messages: [{ role: 'user', content: 'go' }],
    stream: true,
    max_tokens: maxTokens,
    ignore_eos: true,
  });
  // Warm up connections and the JIT, then count only the measured window.
  const stopAt = performance.now() + levelMs + 1_000;
  let measuring = false;
  const worker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      try {
        const res = await request(`${url}/v1/chat/completions`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
          dispatcher: agent,
        });
        for await (const chunk of res.body) {
          if (!measuring) continue;
          const text = (chunk as Buffer).toString('latin1');
          let i = -1;
          while ((i = text.indexOf('"delta":{"content":"', i + 1)) >= 0) if (text[i + 20] !== '"') tokens++;
        }
      } catch {
        errors++;
      }
    }
  };
  const workers = Array.from({ length: streams }, worker);
  await new Promise((r) => setTimeout(r, 1_000));
  await request(`${url}/admin/truth`, { method: 'DELETE', dispatcher: agent }).then((r) => r.body.dump());
  measuring = true;
  const cpuBefore = await cpuSeconds(child.pid ?? 0);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, levelMs));
  const elapsedS = (performance.now() - t0) / 1000;
  const cpuAfter = await cpuSeconds(child.pid ?? 0);
  const deliveredTps = tokens / elapsedS;
  measuring = false;
  const truthRes = await request(`${url}/admin/truth`, { dispatcher: agent });
  const truth = (await truthRes.body.json()) as { requests: { tokenLatenessMs: number[] }[] };
  await Promise.all(workers);
  await agent.close();
  child.kill('SIGTERM');
  const lateness = truth.requests.flatMap((r) => r.tokenLatenessMs).sort((a, b) => a - b);
  const q = (p: number): number =>
    lateness[Math.min(lateness.length - 1, Math.floor(p * lateness.length))] ?? NaN;
  return {
    server: kind,
    streams,
    perStreamTps: tps,
    offeredTps: streams * tps * (maxTokens / (maxTokens + (5 * tps) / 1000)),
    deliveredTps,
    latenessP50Ms: q(0.5),
    latenessP99Ms: q(0.99),
    latenessMaxMs: lateness.at(-1) ?? NaN,
    errors,
    simCpuPercent: ((cpuAfter - cpuBefore) / elapsedS) * 100,
    cpuMicrosPerToken: tokens > 0 ? ((cpuAfter - cpuBefore) / tokens) * 1e6 : NaN,
  };
}

/** Client-measured TTFT percentiles at single-request load vs the closed form (in-process sim). */
async function ttftCheck(samples: number): Promise<void> {
  const latency: Partial<LatencyModel> = {
    prefillOverheadMs: 20,
    prefillMsPerToken: 0.2,
    ttftJitterP99Ratio: 2,
    decodeTokensPerSecond: 1000,
  };
  const { url, child } = await startTtftChild(latency);
  const agent = new Agent({ connect: guardedConnector() });
  const measured: number[] = [];
  let promptTokens = 0;
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messages: [{ role: 'user', content: `A mid-size question number ${i} about queues.` }],
        stream: true,
        max_tokens: 1,
        stream_options: { include_usage: true },
      }),
    });
    let seen = false;
    let text = '';
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString();
      if (!seen && /"content":"[^"]/.test(text)) {
        measured.push(performance.now() - t0);
        seen = true;
      }
    }
    promptTokens = Number(/"prompt_tokens":(\d+)/.exec(text)?.[1] ?? 0);
  }
  await agent.close();
  child.kill('SIGTERM');
  const model = latencyModel(latency);
  const sorted = measured.sort((a, b) => a - b);
  console.log(
    `\nTTFT at single-request load, ${samples} requests of ~${promptTokens} prompt tokens (client: undici, first content token):`,
  );
  console.log('quantile  closed form   measured    error');
  for (const q of [0.5, 0.9, 0.95, 0.99]) {
    const expected = ttftQuantileMs(model, promptTokens, q);
    const got = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
    console.log(
      `P${String(q * 100).padEnd(7)} ${fmt(expected)}  ${fmt(got)}  ${((got / expected - 1) * 100).toFixed(1).padStart(6)}%`,
    );
  }
}

async function startTtftChild(latency: Partial<LatencyModel>): Promise<{ url: string; child: ChildProcess }> {
  const bin = new URL('../bin/llm-fleet.js', import.meta.url).pathname;
  const flags = [
    'sim',
    '--dialect',
    'vllm',
    '--model',
    'ttft',
    '--seed',
    '3',
    '--prefill-overhead-ms',
    String(latency.prefillOverheadMs),
    '--prefill-ms-per-token',
    String(latency.prefillMsPerToken),
    '--ttft-p99-ratio',
    String(latency.ttftJitterP99Ratio),
    '--decode-tps',
    String(latency.decodeTokensPerSecond),
    '--json',
  ];
  const child = spawn(process.execPath, [bin, ...flags], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        // incomplete
      }
    });
    child.on('exit', (code) => reject(new Error(`sim exited ${code}`)));
  });
  return { url, child };
}
