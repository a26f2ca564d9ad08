// Prefix-cache affinity against load-only balancing on a two-replica pool (issue 13 §6, the second
// workload): the example fleet's fast coder as two simulated vLLM servers, each with its own prefix
// cache (vLLM's automatic prefix caching: 16-token blocks held in the KV cache — 2 × the 40K context
// — evicted least recently used), and many tenants each with a long system prompt — by default 60
// of ~2,000 tokens: more prompt prefix in all than one server's KV cache holds (120K tokens against
// 80K) but not more than the pool's two, the case prefix affinity exists for. At each offered rate
// the same Poisson arrivals (same seed) go through one gateway whose pool hashes the prefix
// (affinity, the default loadFactor 1.25) and one that balances by load only (`affinity: false`),
// each on fresh servers. Per policy and rate: the prefix-cache hit rate (cached prompt tokens /
// prompt tokens, the sims' ground truth), the share of requests each replica took, spills, and TTFT
// P50/P95 as the client saw it (streaming, first content chunk), printed as ratios to load-only.
// Run: node bench/prefix-affinity.ts [--rates 2,4,8,12] [--seconds 30] [--tenants 60] [--scale 0.5]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { parseFleet, type Fleet } from '../src/fleet/index.ts';
import { buildGateway } from '../src/gateway/index.ts';
import { startSimFleet } from '../src/sim/fleet.ts';
import { guardedConnector } from '../src/upstream/guard.ts';
import { seededRandom } from '../src/calibrate/arrivals.ts';

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string', default: '2,4,8,12' },
    seconds: { type: 'string', default: '30' },
    tenants: { type: 'string', default: '60' },
    scale: { type: 'string', default: '0.5' },
    seed: { type: 'string', default: '1' },
  },
});
const RATES = args.rates.split(',').map(Number);
const SECONDS = Number(args.seconds);
const TENANTS = Number(args.tenants);
const SCALE = Number(args.scale);
const env = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' };
process.env.LLM_FLEET_LOOPBACK_ONLY = '1';

const TEXT = readFileSync(new URL('../examples/onex.fleet.yaml', import.meta.url), 'utf8');
// The matrix's order under load (`policy: static`): every request of the workload goes to the pool,
// so both runs time the same requests and only the replica choice differs (SLO-aware overflow and
// shedding would time different survivors).
const poolText = (affinity: string) =>
  TEXT.replace(
    '    port: 8001\n',
    `    port: 8001\n    replicas: [http://192.168.86.202:8001]\n${affinity}`,
  ).replace('routing:\n  rules:\n', 'routing:\n  load: { policy: static }\n  rules:\n');

interface Arrival {
  readonly atMs: number;
  readonly tenant: number;
  readonly question: number;
}

function arrivals(rate: number): Arrival[] {
  const r = seededRandom(Number(args.seed) * 1000 + Math.round(rate * 10));
  const out: Arrival[] = [];
  let t = 0;
  for (let i = 0; ; i++) {
    t += (-Math.log(1 - r()) / rate) * 1000;
    if (t > SECONDS * 1000) break;
    out.push({ atMs: t, tenant: Math.floor(r() * TENANTS), question: i });
  }
  return out;
}

/** A tenant's system prompt: ~2,000 tokens of words of its own (distinct from the first word on). */
function systemPrompt(tenant: number): string {
  const words: string[] = [`Tenant ${tenant} house rules.`];
  // 500 words: 2,010 prompt tokens as the simulator (and the gateway) count them.
  for (let i = 0; i < 500; i++) words.push(`rule${tenant}_${i % 97}`);
  return words.join(' ');
}

const agent = new Agent({
  connect: guardedConnector({}, env),
  connections: 1024,
  headersTimeout: 0,
  bodyTimeout: 0,
});

async function ttftOf(
  url: string,
  a: Arrival,
): Promise<{ ttftMs: number; replica: string; endpoint: string; status: number }> {
  const t0 = performance.now();
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'classification',
      stream: true,
      max_tokens: 16,
      ignore_eos: true,
      messages: [
        { role: 'system', content: systemPrompt(a.tenant) },
        { role: 'user', content: `question ${a.question}` },
      ],
    }),
  });
  let ttftMs = NaN;
  for await (const chunk of res.body) {
    if (Number.isNaN(ttftMs) && String(chunk).includes('"content"')) ttftMs = performance.now() - t0;
  }
  // A request that did not succeed (shed with 429, or failed upstream) is counted, not timed.
  return {
    status: res.statusCode,
    ttftMs,
    replica: String(res.headers['x-llm-fleet-replica'] ?? '-'),
    endpoint: String(res.headers['x-llm-fleet-endpoint'] ?? '-'),
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

interface Result {
  readonly name: string;
  readonly hitRate: number;
  readonly p50: number;
  readonly p95: number;
  readonly shares: string;
  readonly offPool: number;
  readonly shed: number;
  readonly failed: number;
  readonly spills: number;
  readonly requests: number;
}

async function run(name: string, affinity: string, plan: readonly Arrival[]): Promise<Result> {
  const template = parseFleet(poolText(affinity), 'bench.fleet.yaml', { env: {} });
  const sim = await startSimFleet(template, { only: ['coder', 'coder-fast'], latencyScale: SCALE, seed: 5 });
  const fleet: Fleet = parseFleet(poolText(affinity), 'bench.fleet.yaml', { env: sim.env });
  const gateway = buildGateway(fleet, { env });
  const url = await gateway.listen(0, '127.0.0.1');
  try {
    const start = performance.now();
    const results = await Promise.all(
      plan.map(async (a) => {
        const wait = a.atMs - (performance.now() - start);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        return ttftOf(url, a);
      }),
    );
    const pool = sim.replicas.get('coder-fast') ?? [];
    const truths = pool.flatMap((s) => s.groundTruth().filter((t) => t.path.includes('/completions')));
    const prompt = truths.reduce((s, t) => s + t.promptTokens, 0);
    const cached = truths.reduce((s, t) => s + t.cachedPromptTokens, 0);
    const onPool = results.filter((r) => r.status === 200 && r.endpoint === 'coder-fast');
    const shed = results.filter((r) => r.status === 429).length;
    const failed = results.filter((r) => r.status !== 200 && r.status !== 429).length;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const spills = metrics
      .split('\n')
      .filter((l) => l.startsWith('llm_fleet_replica_choices_total') && l.includes('reason="spill"'))
      .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    return {
      name,
      hitRate: prompt > 0 ? cached / prompt : 0,
      p50: pct(
        onPool.map((r) => r.ttftMs),
        50,
      ),
      p95: pct(
        onPool.map((r) => r.ttftMs),
        95,
      ),
      shares: ['0', '1'].map((id) => onPool.filter((r) => r.replica === id).length).join('/'),
      offPool: results.filter((r) => r.status === 200).length - onPool.length,
      shed,
      failed,
      spills,
      requests: results.length,
    };
  } finally {
    await gateway.close();
    await sim.close();
  }
}

console.log(
  `prefix affinity vs load-only: coder-fast ×2 (simulated vLLM), Poisson at ${RATES.join(', ')} req/s for ${SECONDS}s each, ` +
    `${TENANTS} tenants × ~2,000-token system prompt, max_tokens 16, latency scale ${SCALE}, load ${loadavg()[0]?.toFixed(2)} (2 shared cores: noisy)`,
);
console.log(
  'rate  policy      requests  on pool r0/r1  elsewhere  shed  failed  spills  cache hit  TTFT P50   TTFT P95',
);
const ratios: { rate: number; hit: number; p50: number; p95: number }[] = [];
for (const rate of RATES) {
  const plan = arrivals(rate);
  const loadOnly = await run('load-only', '    affinity: false\n', plan);
  const affinity = await run('affinity', '', plan);
  for (const r of [loadOnly, affinity]) {
    console.log(
      `${String(rate).padStart(4)}  ${r.name.padEnd(10)}  ${String(r.requests).padStart(8)}  ${r.shares.padStart(13)}  ${String(r.offPool).padStart(9)}  ${String(r.shed).padStart(4)}  ${String(r.failed).padStart(6)}  ${String(r.spills).padStart(6)}  ${(r.hitRate * 100).toFixed(1).padStart(8)}%  ${r.p50.toFixed(0).padStart(6)} ms  ${r.p95.toFixed(0).padStart(6)} ms`,
    );
  }
  ratios.push({
    rate,
    hit: affinity.hitRate / Math.max(1e-9, loadOnly.hitRate),
    p50: affinity.p50 / loadOnly.p50,
    p95: affinity.p95 / loadOnly.p95,
  });
}
console.log(
  '\naffinity / load-only, same arrivals (target: TTFT P95 ≤ 1.00× at every rate, with a higher hit rate):',
);
for (const r of ratios)
  console.log(
    `  ${String(r.rate).padStart(4)} req/s: cache hit ${r.hit.toFixed(2)}×, TTFT P50 ${r.p50.toFixed(2)}×, TTFT P95 ${r.p95.toFixed(2)}× — ${r.p95 <= 1 && r.hit > 1 ? 'met' : 'NOT met'}`,
  );
await agent.close();
