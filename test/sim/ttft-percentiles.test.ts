// At single-request load, TTFT percentiles measured by a plain client match the latency model's
// closed form. The bound is generous (a busy 2-core machine adds client and scheduling delay);
// bench/sim-capacity.ts reports the precise figures.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LatencyModel, SimServer } from '../../src/sim/index.ts';
import { latencyModel, startSimEndpoint, ttftQuantileMs } from '../../src/sim/index.ts';
import { timedStream } from './client.ts';

const SAMPLES = 150;
const PROMPT = 'Summarise the incident report for the on-call engineer in three sentences.';
const latency: Partial<LatencyModel> = {
  prefillOverheadMs: 30,
  prefillMsPerToken: 0.5,
  ttftJitterP99Ratio: 2.5,
  decodeTokensPerSecond: 2000,
};
let sim: SimServer;
beforeAll(async () => {
  sim = await startSimEndpoint({ dialect: 'vllm', model: 'm', seed: 8, latency });
});
afterAll(async () => {
  await sim.close();
});

/** Nearest-rank percentile. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

it(
  'client-measured TTFT P50/P90 within 35% + 15 ms of the closed form; the model’s own choice within 15%',
  { timeout: 120_000 },
  async () => {
    const measured: number[] = [];
    let promptTokens = 0;
    for (let i = 0; i < SAMPLES; i++) {
      // A different prompt each time: no prefix-cache hits.
      const res = await timedStream(`${sim.url}/v1/chat/completions`, {
        messages: [{ role: 'user', content: `${PROMPT} Case ${i}.` }],
        stream: true,
        max_tokens: 2,
      });
      const first = res.events.find((e) => e.raw.includes('"content":"') && !e.raw.includes('"content":""'));
      if (first) measured.push(first.atMs - res.startMs);
    }
    const truth = sim.groundTruth();
    promptTokens = truth[0]?.promptTokens ?? 0;
    expect(truth.every((t) => t.promptTokens === promptTokens && t.cachedPromptTokens === 0)).toBe(true);
    expect(measured).toHaveLength(SAMPLES);
    const model = latencyModel(latency);
    const client = [...measured].sort((a, b) => a - b);
    const server = truth.map((t) => t.ttftMs ?? NaN).sort((a, b) => a - b);
    const chosen = truth.map((t) => t.scheduledTtftMs ?? NaN).sort((a, b) => a - b);
    for (const q of [0.5, 0.9]) {
      const expected = ttftQuantileMs(model, promptTokens, q);
      expect(Math.abs(percentile(client, q) - expected)).toBeLessThanOrEqual(0.35 * expected + 15);
      // Sampling error only (150 draws of a log-normal with σ = 0.39): about ±6% at P50, ±9% at P90.
      expect(Math.abs(percentile(chosen, q) - expected)).toBeLessThanOrEqual(0.15 * expected + 1);
    }
    // The client can only see the first token after the server wrote it.
    expect(percentile(client, 0.5)).toBeGreaterThanOrEqual(percentile(server, 0.5) - 1);
  },
);
