import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../fleet/types.ts';
import { loadFleet } from '../fleet/index.ts';
import { decodeFloorSequences, latencyForEndpoint } from './fleet.ts';
import {
  latencyModel,
  meanItlMs,
  normalQuantile,
  sigmaForP99Ratio,
  ttftMedianMs,
  ttftQuantileMs,
} from './latency.ts';

describe('closed-form TTFT percentiles', () => {
  it('standard normal quantiles', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.99)).toBeCloseTo(2.326348, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });

  it('median = overhead + uncached tokens × per-token time, P99 = median × the stated ratio', () => {
    const m = latencyModel({
      prefillOverheadMs: 100,
      prefillMsPerToken: 0.5,
      ttftJitterP99Ratio: 2,
      scale: 1,
    });
    expect(ttftMedianMs(m, 512)).toBe(356);
    expect(ttftMedianMs(m, 512, 256)).toBe(228);
    expect(ttftQuantileMs(m, 512, 0.5)).toBeCloseTo(356, 9);
    expect(ttftQuantileMs(m, 512, 0.99)).toBeCloseTo(712, 6);
    expect(ttftQuantileMs(m, 512, 0.95)).toBeCloseTo(356 * Math.exp(sigmaForP99Ratio(2) * 1.6448536), 3);
  });

  it('scale shrinks every duration; the batch slows each sequence', () => {
    const m = latencyModel({ decodeTokensPerSecond: 100, maxNumSeqs: 5, batchSlowdownAtFull: 3, scale: 0.1 });
    expect(meanItlMs(m, 1)).toBeCloseTo(1, 9);
    expect(meanItlMs(m, 3)).toBeCloseTo(2, 9);
    expect(meanItlMs(m, 5)).toBeCloseTo(3, 9);
    expect(() => latencyModel({ ttftJitterP99Ratio: 0.5 })).toThrow(RangeError);
  });
});

describe('defaults from the seed figures', () => {
  const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
  const byName = (n: string): Endpoint => fleet.endpoints.find((e) => e.name === n) as Endpoint;

  it('coder: TTFT P95 at a 512-token prompt is 40% of its 2 s target; decode 165 tok/s alone (1.1 × burst), the 80 tok/s floor at 16 sequences', () => {
    const m = latencyModel(latencyForEndpoint(byName('coder')));
    expect(ttftQuantileMs(m, 512, 0.95)).toBeCloseTo(800, 6);
    expect(m.decodeTokensPerSecond).toBeCloseTo(165, 6);
    // Alone, nearly every request reaches the burst figure (the per-request spread is small)…
    const sigma = Math.log(m.decodeRateJitterP99Ratio) / 2.3263478740408408;
    expect(1000 / (meanItlMs(m, 1) * Math.exp(sigma * normalQuantile(0.5)))).toBeGreaterThan(150);
    expect(1000 / (meanItlMs(m, 1) / Math.exp(sigma * normalQuantile(0.05)))).toBeGreaterThan(150);
    // …the batch's width costs the rate: 16 sequences decode at the sustained floor, 32 well under.
    expect(1000 / meanItlMs(m, 16)).toBeCloseTo(80, 6);
    expect(1000 / meanItlMs(m, 8)).toBeGreaterThan(80);
    expect(1000 / meanItlMs(m, 32)).toBeLessThan(60);
    // A 4K-token prompt stays under the 2 s P95 target.
    expect(ttftQuantileMs(m, 4096, 0.95)).toBeLessThan(2000);
  });

  it('llama.cpp: the sustained floor when all its slots decode; mlx_lm at 8 sequences', () => {
    const r1 = latencyModel(latencyForEndpoint(byName('deepseek-r1')));
    expect(r1.maxNumSeqs).toBe(4);
    expect(1000 / meanItlMs(r1, 1)).toBeCloseTo(88, 6);
    expect(1000 / meanItlMs(r1, 4)).toBeCloseTo(40, 6);
    expect(decodeFloorSequences('mlx', 32)).toBe(8);
    expect(decodeFloorSequences('vllm', 8)).toBe(8);
  });

  it('coder-fast answers faster, R1 slower; embeddings compute a batch of 32 at 2.5× the 5000/s floor', () => {
    const fast = latencyModel(latencyForEndpoint(byName('coder-fast')));
    const r1 = latencyModel(latencyForEndpoint(byName('deepseek-r1')));
    const coder = latencyModel(latencyForEndpoint(byName('coder')));
    expect(ttftQuantileMs(fast, 512, 0.95)).toBeLessThan(ttftQuantileMs(coder, 512, 0.95));
    expect(ttftQuantileMs(r1, 512, 0.95)).toBeGreaterThan(ttftQuantileMs(coder, 512, 0.95));
    const emb = latencyModel(latencyForEndpoint(byName('embeddings')));
    const batchMs = emb.embeddingOverheadMs + 32 * emb.embeddingMsPerInput;
    expect((32 * 1000) / batchMs).toBeCloseTo(5000 / 0.4, 6);
  });
});
