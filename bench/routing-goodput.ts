// Goodput under load, by routing policy (issue 13 §6). The example fleet is simulated (`llm-fleet
// sim --fleet`, in its own process); the gateway runs here with each policy in turn: (a) static —
// today's matrix, (b) slo — SLO-aware routing, (c) least-busy — LiteLLM's least-busy among the
// matrix's candidates. The same open-loop Poisson arrivals (same seed) go through each, ramped from
// light load to twice the preferred endpoints' capacity.
//
// Goodput = requests per second that met every per-request objective of the endpoint that served
// them (TTFT ≤ its P95 and P99 thresholds, decode ≥ its sustained floor, embeddings rate), judged
// by the project's own judge (slo/judgeRecord). Shed, rejected and failed requests count as misses
// and the shed rate is printed beside it. The burst objective is left out of the per-request test:
// it is about the fastest 5% of requests and most requests miss it by design even at idle.
//
// Run: npx node bench/routing-goodput.ts [--rates 2,4,6,8,10,12,16] [--seconds 30] [--scale 0.5] [--seed 1]
//        [--json out.json]
// Latency scale: every simulated duration and every TTFT target is multiplied by --scale (rates and
// throughput floors divided), so the same load shape runs faster; figures are reported unscaled.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { seededRandom } from '../src/calibrate/arrivals.ts';
import { syntheticPrompt } from '../src/calibrate/workload.ts';
import type { Endpoint, Fleet, LoadPolicy } from '../src/fleet/index.ts';
import { loadFleet } from '../src/fleet/index.ts';
import { buildGateway } from '../src/gateway/index.ts';
import type { LoadView } from '../src/gateway/load/load-view.ts';
import type { RequestRecord } from '../src/measure/record.ts';
import { percentile } from '../src/measure/index.ts';
import { requestEvents } from '../src/slo/index.ts';

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: '2,4,6,8,10,12,16' },
    seconds: { type: 'string', default: '30' },
    scale: { type: 'string', default: '0.5' },
    seed: { type: 'string', default: '1' },
    policies: { type: 'string', default: 'static,slo,least-busy' },
    json: { type: 'string' },
    /** Another checkout's CLI to simulate with (e.g. a simulator change not yet on main). */
    'sim-bin': { type: 'string' },
  },
});
const RATES = args.rates.split(',').map(Number);
const STEP_S = Number(args.seconds);
const SCALE = Number(args.scale);
const SEED = Number(args.seed);
const POLICIES = args.policies.split(',') as LoadPolicy[];
const FLEET_FILE = fileURLToPath(new URL('../examples/onex.fleet.yaml', import.meta.url));
const MAIN = args['sim-bin'] ?? fileURLToPath(new URL('../bin/llm-fleet.js', import.meta.url));

/** The mix: share of arrivals, task, prompt and completion lengths (tokens). */
const MIX = [
  { name: 'code-small', share: 0.4, task: 'code', promptTokens: 1000, maxTokens: 96 },
  { name: 'code-large', share: 0.1, task: 'code', promptTokens: 4000, maxTokens: 96 },
  { name: 'classification', share: 0.25, task: 'classification', promptTokens: 300, maxTokens: 8 },
  { name: 'reasoning', share: 0.1, task: 'reasoning', promptTokens: 800, maxTokens: 128 },
  { name: 'embeddings', share: 0.15, task: 'embedding', promptTokens: 64, maxTokens: 0, inputs: 32 },
] as const;
type Kind = (typeof MIX)[number]['name'];
/** A task's TTFT P95 counts as a breach only over this many requests of the step. */
const MIN_P95_SAMPLES = 20;

interface Arrival {
  readonly atMs: number;
  readonly kind: Kind;
  readonly id: string;
}

/**
 * The same arrivals for every policy: Poisson at `rate` (unscaled req/s) for STEP_S unscaled
 * seconds, seeded by the rate (so a run of fewer rates sends the same arrivals at each of them).
 */
function arrivals(rate: number, step: number): Arrival[] {
  const rand = seededRandom(SEED * 1000 + Math.round(rate * 10));
  const out: Arrival[] = [];
  let t = 0;
  for (;;) {
    t += -Math.log(1 - rand()) / rate;
    if (t >= STEP_S) break;
    let u = rand();
    const m = MIX.find((x) => (u -= x.share) < 0) ?? MIX[0];
    out.push({ atMs: t * 1000, kind: m.name, id: `${step}-${out.length}` });
  }
  return out;
}

/** The fleet as the gateway sees it at this latency scale: targets × scale, floors ÷ scale. */
function scaledFleet(fleet: Fleet, policy: LoadPolicy): Fleet {
  const scaleSlo = (slo: Endpoint['slo']): Endpoint['slo'] => ({
    ...slo,
    ttft: slo.ttft && { p95Ms: slo.ttft.p95Ms * SCALE, p99Ms: slo.ttft.p99Ms * SCALE },
    throughput: {
      ...slo.throughput,
      sustainedTokensPerSecond:
        slo.throughput.sustainedTokensPerSecond && slo.throughput.sustainedTokensPerSecond / SCALE,
      burstTokensPerSecond:
        slo.throughput.burstTokensPerSecond && slo.throughput.burstTokensPerSecond / SCALE,
      embeddingsPerSecond: slo.throughput.embeddingsPerSecond && slo.throughput.embeddingsPerSecond / SCALE,
    },
  });
  const load = fleet.routing.load;
  return {
    ...fleet,
    endpoints: fleet.endpoints.map((e) => ({
      ...e,
      slo: scaleSlo(e.slo),
      baseSlo: scaleSlo(e.baseSlo),
      timeouts: {
        ...e.timeouts,
        ttftTimeoutMs: Math.max(e.timeouts.ttftTimeoutMs * SCALE, 5_000),
        totalTimeoutMs: 120_000,
      },
    })),
    routing: {
      ...fleet.routing,
      load: {
        ...load,
        policy,
        scrapeIntervalMs: Math.max(100, load.scrapeIntervalMs * SCALE),
        staleAfterMs: Math.max(300, load.staleAfterMs * SCALE),
        admission: { ...load.admission, ttlMs: load.admission.ttlMs * SCALE },
      },
    },
  };
}

async function startSims(): Promise<{ child: ChildProcess; env: Record<string, string> }> {
  const child = spawn(
    process.execPath,
    [MAIN, 'sim', '--fleet', FLEET_FILE, '--json', '--seed', String(SEED), '--latency-scale', String(SCALE)],
    { env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let text = '';
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`sim exited with ${code}`)));
    child.stdout?.on('data', (b: Buffer) => {
      text += b.toString();
      try {
        resolve((JSON.parse(text) as { env: Record<string, string> }).env);
      } catch {
        // Not complete yet.
      }
    });
  });
  return { child, env };
}

const agent = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 30_000 });

function body(a: Arrival): { path: string; json: string } {
  const m = MIX.find((x) => x.name === a.kind) ?? MIX[0];
  if (m.name === 'embeddings') {
    const input = Array.from({ length: m.inputs }, (_, i) => syntheticPrompt(m.promptTokens, `${a.id}-${i}`));
    return { path: '/v1/embeddings', json: JSON.stringify({ model: 'embedding', input }) };
  }
  return {
    path: '/v1/chat/completions',
    json: JSON.stringify({
      model: m.task,
      messages: [{ role: 'user', content: syntheticPrompt(m.promptTokens, a.id) }],
      max_tokens: m.maxTokens,
      ignore_eos: true,
    }),
  };
}

interface StepResult {
  policy: LoadPolicy;
  offeredRate: number;
  sent: number;
  good: number;
  goodput: number;
  shed: number;
  failed: number;
  shedRate: number;
  ttftMs: Record<string, { p95: number | null; p99: number | null }>;
  /** Why requests missed: objective id (or shed / failed) → count. */
  misses: Record<string, number>;
  /** Requests served per endpoint, and mean in flight. */
  endpoints: Record<string, { served: number; good: number; meanInFlight: number }>;
  firstTtftBreach: string | null;
}

function meetsEvery(fleet: Fleet, r: RequestRecord): boolean {
  if (r.outcome !== 'ok') return false;
  const events = requestEvents(fleet, r).filter((e) => !e.objectiveId.includes('burst'));
  return events.length > 0 && events.every((e) => e.outcome === 'good');
}

/** One policy's run: the simulated fleet and one gateway, kept across the whole ramp (its load
 *  view and predictor learn as a long-running gateway's would). */
interface PolicyRun {
  readonly policy: LoadPolicy;
  readonly sims: Awaited<ReturnType<typeof startSims>>;
  readonly fleet: Fleet;
  readonly gateway: ReturnType<typeof buildGateway>;
  readonly url: string;
  readonly records: Map<string, RequestRecord>;
}

/** The predictors' error over a policy's whole ramp, per chat endpoint (prediction at dispatch vs what followed). */
type PredictorErrors = Record<string, ReturnType<LoadView['predictorError']>>;

async function startPolicy(policy: LoadPolicy): Promise<PolicyRun> {
  const sims = await startSims();
  const fleet = scaledFleet(loadFleet(FLEET_FILE, { env: sims.env }), policy);
  const records = new Map<string, RequestRecord>();
  const gateway = buildGateway(fleet, {
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    onRecord: (r) => records.set(r.id, r),
  });
  const url = await gateway.listen(0, '127.0.0.1');
  return { policy, sims, fleet, gateway, url, records };
}

async function stopPolicy(run: PolicyRun): Promise<PredictorErrors> {
  const predictor: PredictorErrors = {};
  for (const e of run.fleet.endpoints)
    if (e.status === 'running' && e.kind === 'chat')
      predictor[e.name] = run.gateway.context.load.view.predictorError(e.name);
  await run.gateway.close();
  run.sims.child.kill();
  return predictor;
}

async function runStep(run: PolicyRun, rate: number, step: number): Promise<StepResult> {
  const { policy, fleet, gateway, url, records } = run;
  records.clear();
  const plan = arrivals(rate, step);
  const running = fleet.endpoints.filter((e) => e.status === 'running');
  const inFlightSum = new Map<string, number>(running.map((e) => [e.name, 0]));
  let samples = 0;
  const sampler = setInterval(() => {
    samples += 1;
    for (const e of running)
      inFlightSum.set(e.name, (inFlightSum.get(e.name) ?? 0) + gateway.context.load.view.load(e).inFlight);
  }, 100 * SCALE);
  const statuses = new Map<string, number>();
  const start = performance.now();
  await Promise.all(
    plan.map(async (a) => {
      const wait = a.atMs * SCALE - (performance.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const b = body(a);
      try {
        const res = await request(`${url}${b.path}`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', 'x-request-id': a.id },
          body: b.json,
        });
        await res.body.dump();
        statuses.set(a.id, res.statusCode);
      } catch {
        statuses.set(a.id, 0);
      }
    }),
  );
  clearInterval(sampler);

  const misses: Record<string, number> = {};
  let good = 0;
  let shed = 0;
  let failed = 0;
  const ttft = new Map<string, number[]>();
  const served = new Map<string, number>();
  const goodAt = new Map<string, number>();
  for (const a of plan) {
    const r = records.get(a.id);
    const status = statuses.get(a.id) ?? 0;
    if (status === 429) shed += 1;
    else if (status !== 200 || !r || r.outcome !== 'ok') failed += 1;
    if (r && meetsEvery(fleet, r)) {
      good += 1;
      goodAt.set(r.endpoint, (goodAt.get(r.endpoint) ?? 0) + 1);
    } else if (status === 429) misses.shed = (misses.shed ?? 0) + 1;
    else if (!r || r.outcome !== 'ok') misses.failed = (misses.failed ?? 0) + 1;
    else
      for (const e of requestEvents(fleet, r))
        if (e.outcome === 'bad' && !e.objectiveId.includes('burst'))
          misses[e.objectiveId] = (misses[e.objectiveId] ?? 0) + 1;
    if (r && r.outcome === 'ok') {
      served.set(r.endpoint, (served.get(r.endpoint) ?? 0) + 1);
      if (r.ttftMs !== undefined) {
        const list = ttft.get(a.kind) ?? [];
        list.push(r.ttftMs / SCALE);
        ttft.set(a.kind, list);
      }
    }
  }
  const ttftMs: StepResult['ttftMs'] = {};
  for (const m of MIX) {
    const list = (ttft.get(m.name) ?? []).sort((x, y) => x - y);
    ttftMs[m.name] = {
      p95: list.length ? Math.round(percentile(list, 95) ?? 0) : null,
      p99: list.length ? Math.round(percentile(list, 99) ?? 0) : null,
    };
  }
  // The first TTFT objective static breaches: a task's P95 over the P95 target of the endpoint
  // its matrix rule prefers, over at least MIN_P95_SAMPLES requests (fewer make the P95 the maximum).
  let firstTtftBreach: string | null = null;
  for (const m of MIX) {
    if (m.name === 'embeddings') continue;
    const rule = fleet.routing.rules.find(
      (r) =>
        r.task === m.task &&
        (r.minTokensExclusive === undefined || m.promptTokens > r.minTokensExclusive) &&
        (r.maxTokensInclusive === undefined || m.promptTokens <= r.maxTokensInclusive),
    );
    const target = fleet.endpoints.find((e) => e.name === rule?.endpoint)?.slo.ttft;
    const p95 = ttftMs[m.name]?.p95;
    const samples = ttft.get(m.name)?.length ?? 0;
    if (
      target &&
      samples >= MIN_P95_SAMPLES &&
      p95 !== null &&
      p95 !== undefined &&
      p95 > target.p95Ms / SCALE
    ) {
      firstTtftBreach = `${m.name} P95 ${p95}ms > ${target.p95Ms / SCALE}ms`;
      break;
    }
  }
  const endpoints: StepResult['endpoints'] = {};
  for (const e of running)
    endpoints[e.name] = {
      served: served.get(e.name) ?? 0,
      good: goodAt.get(e.name) ?? 0,
      meanInFlight: Math.round(((inFlightSum.get(e.name) ?? 0) / Math.max(1, samples)) * 10) / 10,
    };
  return {
    policy,
    offeredRate: rate,
    sent: plan.length,
    good,
    goodput: Math.round((good / STEP_S) * 100) / 100,
    shed,
    failed,
    shedRate: plan.length ? Math.round((shed / plan.length) * 1000) / 1000 : 0,
    ttftMs,
    endpoints,
    firstTtftBreach,
    misses,
  };
}

const results: StepResult[] = [];
process.stdout.write(
  `routing-goodput: ${cpus().length} cores, load average ${loadavg()[0]?.toFixed(2)} (shared machine: figures are noisy); ` +
    `latency scale ${SCALE}, ${STEP_S}s per step, seed ${SEED}\n` +
    `mix: ${MIX.map((m) => `${m.name} ${Math.round(m.share * 100)}% (${m.promptTokens} prompt${m.maxTokens ? ` / ${m.maxTokens} out` : ` × ${'inputs' in m ? m.inputs : 1} inputs`})`).join(', ')}\n`,
);
const predictors = new Map<LoadPolicy, PredictorErrors>();
for (const policy of POLICIES) {
  const run = await startPolicy(policy);
  for (const [step, rate] of RATES.entries()) {
    const r = await runStep(run, rate, step);
    results.push(r);
    process.stdout.write(
      `${String(rate).padStart(5)} req/s  ${policy.padEnd(10)} goodput ${r.goodput.toFixed(2).padStart(6)}  shed ${(r.shedRate * 100).toFixed(1).padStart(5)}%  failed ${r.failed}  ` +
        `TTFT P95 ${MIX.filter((m) => m.name !== 'embeddings')
          .map((m) => `${m.name} ${r.ttftMs[m.name]?.p95 ?? '-'}`)
          .join(' ')}  good/served ${Object.entries(r.endpoints)
          .map(([n, e]) => `${n}:${e.good}/${e.served}`)
          .join(' ')}\n`,
    );
    process.stdout.write(
      `             misses ${Object.entries(r.misses)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ')}\n`,
    );
  }
  predictors.set(policy, await stopPolicy(run));
}

// The targets, as ratios measured in this run.
const at = (policy: LoadPolicy, rate: number) =>
  results.find((r) => r.policy === policy && r.offeredRate === rate);
const breach = RATES.find((rate) => at('static', rate)?.firstTtftBreach);
const summary: Record<string, unknown> = { breachRate: breach ?? null };
if (breach !== undefined) {
  const s = at('static', breach) as StepResult;
  const slo = at('slo', breach);
  const lb = at('least-busy', breach);
  summary.breach = s.firstTtftBreach;
  summary.sloOverStatic = slo ? Math.round((slo.goodput / Math.max(0.01, s.goodput)) * 100) / 100 : null;
  summary.sloOverLeastBusy =
    slo && lb ? Math.round((slo.goodput / Math.max(0.01, lb.goodput)) * 100) / 100 : null;
  process.stdout.write(
    `\nstatic first breaches a TTFT objective at ${breach} req/s (${s.firstTtftBreach}).\n` +
      `  SLO-aware / static goodput there: ${summary.sloOverStatic}× (target ≥ 1.5×)\n` +
      `  SLO-aware / least-busy goodput there: ${summary.sloOverLeastBusy}× (target > 1×)\n`,
  );
} else process.stdout.write('\nstatic never breached a TTFT objective: raise --rates\n');
const lighter = RATES.filter((rate) => breach === undefined || rate < breach).map((rate) => ({
  rate,
  ratio:
    Math.round(((at('slo', rate)?.goodput ?? 0) / Math.max(0.01, at('static', rate)?.goodput ?? 0)) * 100) /
    100,
}));
summary.lighter = lighter;
process.stdout.write(
  `  lighter loads, SLO-aware / static goodput: ${lighter.map((l) => `${l.rate}: ${l.ratio}×`).join(', ')} (target ≥ 1× within noise)\n`,
);
// The predictors' error against the simulator, over each policy's whole ramp.
const pct = (x: number | null) => (x === null ? '-' : `${Math.round(x * 100)}%`);
const times = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}×`);
process.stdout.write(
  '\npredictor error against the simulator (whole ramp; TTFT: share at or under the predicted P95 / P99, ideal 95% / 99%, ' +
    'and median observed / predicted median; decode: share at or above the predicted P05 rate, ideal 95%, and the median ratio):\n',
);
for (const [policy, errors] of predictors)
  for (const [endpoint, e] of Object.entries(errors))
    process.stdout.write(
      `  ${policy.padEnd(10)} ${endpoint.padEnd(12)} TTFT n=${e.samples} ≤P95 ${pct(e.withinP95)} ≤P99 ${pct(e.withinP99)} median ${times(e.medianRatio)}` +
        `  decode n=${e.decodeSamples} ≥P05 ${pct(e.decodeAboveP05)} median ${times(e.decodeMedianRatio)}\n`,
    );
summary.predictor = Object.fromEntries(predictors);
if (args.json)
  writeFileSync(
    args.json,
    `${JSON.stringify({ scale: SCALE, stepSeconds: STEP_S, seed: SEED, loadAverage: loadavg(), mix: MIX, results, summary }, null, 2)}\n`,
  );
await agent.close();
