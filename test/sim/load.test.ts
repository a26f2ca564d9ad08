// The simulator under load, seen from outside: vLLM's waiting queue, KV-cache use and preemptions
// in /metrics; llama.cpp's deferred requests and busy slots in /metrics and /slots; settings from
// the fleet file's sim: block; independent replicas. Real time and real sockets, so the assertions
// are about states and counts, not durations (bench/sim-capacity.ts and the engine's virtual-time
// tests hold the timing).
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../src/fleet/index.ts';
import type { SimFleet, SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint, startSimFleet } from '../../src/sim/index.ts';
import { get, post } from './client.ts';

let servers: SimServer[] = [];
let fleets: SimFleet[] = [];
afterEach(async () => {
  await Promise.all([...servers.map((s) => s.close()), ...fleets.map((f) => f.close())]);
  servers = [];
  fleets = [];
});

function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : NaN;
}

/** Polls /metrics while `work` runs; returns the largest value each gauge reached. */
async function peaks(url: string, names: readonly string[], work: Promise<unknown>): Promise<number[]> {
  const max = names.map(() => 0);
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    const text = (await get(`${url}/metrics`)).text;
    names.forEach((n, i) => (max[i] = Math.max(max[i] as number, gauge(text, n))));
    await new Promise((r) => setTimeout(r, 5));
  }
  await work;
  return max;
}

const words = (n: number, tag: string): string => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(' ');

describe('vLLM 0.11.0 under load', () => {
  it('requests beyond max_num_seqs wait; a full KV cache preempts; every request still completes', async () => {
    // 2048-token KV cache (128 blocks of 16), 8 running at most: 8 × (a short prompt + 300 output)
    // tokens do not fit, so the latest running requests are preempted and recomputed.
    const s = await startSimEndpoint({
      dialect: 'vllm',
      version: '0.11.0',
      model: 'm',
      contextWindowTokens: 2048,
      engine: { kvCacheTokens: 2048 },
      latency: { maxNumSeqs: 8, prefillOverheadMs: 5, prefillMsPerToken: 0.01, decodeTokensPerSecond: 400 },
    });
    servers.push(s);
    const work = Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(`${s.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: `question ${i}` }],
          max_tokens: 300,
          ignore_eos: true,
        }),
      ),
    );
    const [running, waiting, kv] = await peaks(
      s.url,
      ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc'],
      work,
    );
    const answers = (await work).map((r) => JSON.parse(r.text));
    expect(answers.every((a) => a.usage.completion_tokens === 300)).toBe(true);
    expect(running).toBe(8);
    expect(waiting).toBeGreaterThan(0);
    expect(kv).toBeGreaterThan(0.9);
    expect(kv).toBeLessThanOrEqual(1);
    const after = (await get(`${s.url}/metrics`)).text;
    expect(gauge(after, 'vllm:num_preemptions_total')).toBeGreaterThan(0);
    expect(gauge(after, 'vllm:num_requests_running')).toBe(0);
    expect(gauge(after, 'vllm:num_requests_waiting')).toBe(0);
    expect(gauge(after, 'vllm:kv_cache_usage_perc')).toBe(0);
    // Queueing shows in TTFT: the requests admitted last waited for the first to finish.
    const ttfts = s
      .groundTruth()
      .map((t) => t.ttftMs ?? NaN)
      .sort((a, b) => a - b);
    expect(ttfts.at(-1)).toBeGreaterThan(3 * (ttfts[0] as number));
  });
});

describe('llama.cpp b6715 under load', () => {
  it('requests beyond --parallel are deferred; /slots shows the busy slots with their task', async () => {
    const s = await startSimEndpoint({
      dialect: 'llamacpp',
      version: 'b6715',
      model: 'm',
      latency: { maxNumSeqs: 2, prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 200 },
    });
    servers.push(s);
    const work = Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        post(`${s.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: `task ${i}` }],
          max_tokens: 60,
          ignore_eos: true,
        }),
      ),
    );
    let slots: { is_processing: boolean; id_task?: number }[] = [];
    let metrics = '';
    for (let i = 0; i < 400; i++) {
      metrics = (await get(`${s.url}/metrics`)).text;
      if (gauge(metrics, 'llamacpp:requests_deferred') >= 2) {
        slots = JSON.parse((await get(`${s.url}/slots`)).text);
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(gauge(metrics, 'llamacpp:requests_processing')).toBe(2);
    expect(gauge(metrics, 'llamacpp:requests_deferred')).toBeGreaterThanOrEqual(2);
    expect(slots.map((x) => x.is_processing)).toEqual([true, true]);
    await work;
    const idle = (await get(`${s.url}/metrics`)).text;
    expect(gauge(idle, 'llamacpp:requests_processing')).toBe(0);
    expect(gauge(idle, 'llamacpp:requests_deferred')).toBe(0);
    const after = JSON.parse((await get(`${s.url}/slots`)).text) as { is_processing: boolean }[];
    expect(after.every((x) => !x.is_processing)).toBe(true);
  });
});

describe('mlx_lm concurrency by version', () => {
  it.each([
    ['0.28.4', 'one request at a time (HTTPServer)', true],
    ['0.31.2', 'batched (BatchGenerator)', false],
  ] as const)('mlx_lm %s: %s', async (version, _what, serial) => {
    const s = await startSimEndpoint({
      dialect: 'mlx',
      version,
      model: 'm',
      latency: { prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 200 },
    });
    servers.push(s);
    const ask = (i: number): Promise<unknown> =>
      post(`${s.url}/v1/chat/completions`, {
        messages: [{ role: 'user', content: `m${i}` }],
        max_tokens: 40,
      });
    await Promise.all([ask(1), ask(2)]);
    const [a, b] = [...s.groundTruth()].sort((x, y) => x.queueMs - y.queueMs);
    const firstRunMs = (a?.endAtMs ?? 0) - (a?.arrivalMs ?? 0);
    // 40 tokens at 200 tok/s ≈ 200 ms: serially the second waits for all of it, batched for none.
    if (serial) expect(b?.queueMs).toBeGreaterThan(0.7 * firstRunMs);
    else expect(b?.queueMs).toBeLessThan(0.3 * firstRunMs);
  });
});

describe("the fleet file's sim: block and replicas", () => {
  // The example fleet with engine settings on two endpoints.
  const fleetText = readFileSync('examples/onex.fleet.yaml', 'utf8')
    .replace(
      '    fallbacks: [coder-fast]\n',
      '    fallbacks: [coder-fast]\n    sim: { maxNumSeqs: 3, maxNumBatchedTokens: 512, kvCacheTokens: 128K }\n',
    )
    .replace('    dialect: llamacpp\n', '    dialect: llamacpp\n    sim: { maxNumSeqs: 2 }\n');

  it('sets the engine per endpoint; replicas are independent servers with their own prefix cache', async () => {
    const fleet = parseFleet(fleetText, 't.fleet.yaml', { env: {} });
    const sim = await startSimFleet(fleet, {
      only: ['coder', 'deepseek-r1'],
      replicas: { coder: 2 },
      latencyScale: 0.01,
    });
    fleets.push(sim);
    const props = JSON.parse((await get(`${sim.env.LLM_DEEPSEEK_R1_URL}/props`)).text);
    expect(props.total_slots).toBe(2);
    const [a, b] = sim.replicas.get('coder') ?? [];
    // The variable names the whole pool, comma-separated (what the fleet loader reads back).
    expect(sim.env.LLM_CODER_URL).toBe(`${a?.url},${b?.url}`);
    expect(b?.url).not.toBe(a?.url);
    // maxNumSeqs 3 on each replica: 6 concurrent requests, 3 wait.
    const work = Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        post(`${a?.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: `n${i}` }],
          max_tokens: 400,
          ignore_eos: true,
        }),
      ),
    );
    const [running, waiting] = await peaks(
      a?.url ?? '',
      ['vllm:num_requests_running', 'vllm:num_requests_waiting'],
      work,
    );
    expect(running).toBe(3);
    expect(waiting).toBeGreaterThan(0);
    // A shared system prompt is cached on the replica that saw it, not on the other.
    const system = { role: 'system', content: words(200, 'rule') };
    const ask = async (server: SimServer | undefined, q: string): Promise<number> => {
      await post(`${server?.url}/v1/chat/completions`, {
        messages: [system, { role: 'user', content: q }],
        max_tokens: 2,
      });
      return server?.groundTruth().at(-1)?.cachedPromptTokens ?? NaN;
    };
    expect(await ask(a, 'first')).toBe(0);
    expect(await ask(a, 'second')).toBeGreaterThan(150);
    expect(await ask(b, 'third')).toBe(0);
  });

  it('a bad engine setting is a fleet-file error naming the field', () => {
    expect(() =>
      parseFleet(fleetText.replace('maxNumBatchedTokens: 512', 'maxNumBatchedTokens: -3'), 't.fleet.yaml', {
        env: {},
      }),
    ).toThrow(/maxNumBatchedTokens/);
  });
});
