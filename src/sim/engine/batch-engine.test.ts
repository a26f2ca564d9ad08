// The engine in virtual time: exact single-request timing, the TTFT-against-rate curve (flat, a
// knee, then queueing) and how the token budget moves the knee, KV preemption, slots. No real
// time is involved, so none of this depends on how busy the machine is.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../generator.ts';
import type { EngineCost, EngineJob, EngineLimits } from './batch-engine.ts';
import { BatchEngine } from './batch-engine.ts';
import { VirtualClock } from './engine-clock.ts';

const VLLM: EngineLimits = {
  maxNumSeqs: 256,
  maxNumBatchedTokens: 2048,
  prefillChunkTokens: Infinity,
  maxConcurrentPrefills: Infinity,
  kvCacheBlocks: Infinity,
  blockSizeTokens: 16,
};
/** No jitter: every figure below is exact. */
const COST: EngineCost = {
  fixedTtftMs: 40,
  stepOverheadMs: 20,
  prefillMsPerToken: 0.05,
  decodeMsPerToken: 0.1,
  ttftSigma: 0,
  stepSigma: 0,
};

interface Seen {
  startAtMs?: number;
  queuedMs?: number;
  outputsAtMs: number[];
}

function job(seen: Seen, promptTokens: number, outputs: number, extra: Partial<EngineJob> = {}): EngineJob {
  return {
    promptTokens,
    cachedPromptTokens: 0,
    outputs,
    rateFactor: 1,
    onStart: (at, queued) => {
      seen.startAtMs = at;
      seen.queuedMs = queued;
    },
    onOutput: (i, at) => {
      expect(i).toBe(seen.outputsAtMs.length);
      seen.outputsAtMs.push(at);
    },
    ...extra,
  };
}

describe('one request alone', () => {
  it('TTFT = fixed part + prompt × prefill cost; each further token one decode step', () => {
    const clock = new VirtualClock();
    const engine = new BatchEngine(VLLM, COST, clock, mulberry32(1));
    const seen: Seen = { outputsAtMs: [] };
    engine.submit(job(seen, 1000, 4));
    clock.runAll();
    expect(seen.queuedMs).toBe(0);
    expect(seen.outputsAtMs[0]).toBeCloseTo(40 + 1000 * 0.05, 9);
    const gaps = seen.outputsAtMs.slice(1).map((t, i) => t - (seen.outputsAtMs[i] as number));
    for (const g of gaps) expect(g).toBeCloseTo(20 + 0.1, 9);
    expect(engine.load()).toEqual({ running: 0, waiting: 0, kvCacheUsage: 0, preemptions: 0 });
  });

  it('a prompt over the token budget is prefilled in chunks, one step each', () => {
    const clock = new VirtualClock();
    const engine = new BatchEngine({ ...VLLM, maxNumBatchedTokens: 512 }, COST, clock, mulberry32(1));
    const seen: Seen = { outputsAtMs: [] };
    const chunks: number[] = [];
    engine.submit(job(seen, 1200, 1, { onPrefill: (done) => chunks.push(done) }));
    clock.runAll();
    expect(chunks).toEqual([512, 1024]);
    expect(seen.outputsAtMs[0]).toBeCloseTo(40 + 1200 * 0.05, 9);
  });
});

/** Median TTFT of Poisson arrivals at `ratePerSecond` over `seconds` of virtual time. */
function medianTtftMs(limits: EngineLimits, ratePerSecond: number, seconds = 60): number {
  const clock = new VirtualClock();
  const rand = mulberry32(42);
  const engine = new BatchEngine(limits, COST, clock, mulberry32(7));
  const ttfts: number[] = [];
  let t = 0;
  while (t < seconds * 1000) {
    t += (-Math.log(1 - rand()) / ratePerSecond) * 1000;
    const arrival = t;
    clock.runUntil(arrival);
    const seen: Seen = { outputsAtMs: [] };
    engine.submit(
      job(seen, 2000, 100, {
        onOutput: (i, at) => {
          if (i === 0) ttfts.push(at - arrival);
        },
      }),
    );
  }
  clock.runUntil(seconds * 1000 + 600_000);
  ttfts.sort((a, b) => a - b);
  return ttfts[Math.floor(ttfts.length / 2)] as number;
}

describe('TTFT against request rate', () => {
  const rates = [0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12];
  const alone = COST.fixedTtftMs + 2000 * COST.prefillMsPerToken;
  const curve = (budget: number): number[] =>
    rates.map((r) => medianTtftMs({ ...VLLM, maxNumBatchedTokens: budget }, r));
  /** The first rate whose median TTFT is twice the light-load level. */
  const knee = (ttfts: readonly number[]): number =>
    rates[ttfts.findIndex((t) => t > 2 * (ttfts[0] as number))] ?? Infinity;

  it('is flat at light load, bends at a knee, then grows with the queue; a smaller budget bends earlier', () => {
    // 2048: 168 174 178 184 242 269 382 868 2743 … ms; 256: 313 319 440 1061 5380 … ms (seeded).
    const big = curve(2048);
    const small = curve(256);
    for (const ttfts of [big, small]) {
      const flat = ttfts[0] as number;
      // Light load: near a request alone (a small budget pays a step overhead per chunk while others decode).
      expect(flat).toBeGreaterThanOrEqual(alone);
      expect(flat).toBeLessThan(2.5 * alone);
      expect(ttfts[1]).toBeLessThan(1.3 * flat);
      // Past capacity the queue grows for the whole run: many times the light-load level.
      expect(ttfts.at(-1)).toBeGreaterThan(20 * flat);
      for (let i = 1; i < ttfts.length; i++) expect(ttfts[i]).toBeGreaterThan(0.9 * (ttfts[i - 1] as number));
    }
    // 256 tokens a step prefill a 2000-token prompt in 8 steps that each pay the step overhead
    // beside the decodes; 2048 in one: the small budget's knee comes at a lower rate.
    expect(knee(big)).toBeLessThan(Infinity);
    expect(knee(small)).toBeLessThan(knee(big));
    expect(knee(big) / knee(small)).toBeGreaterThanOrEqual(1.5);
  });
});

describe('KV cache and preemption', () => {
  it('when blocks run out the latest running request is preempted, recomputed, and still gets every output in order', () => {
    const clock = new VirtualClock();
    const limits = { ...VLLM, kvCacheBlocks: 100 }; // 1600 tokens
    const engine = new BatchEngine(limits, COST, clock, mulberry32(3));
    const seen = Array.from({ length: 6 }, (): Seen => ({ outputsAtMs: [] }));
    let maxUsage = 0;
    for (const s of seen) engine.submit(job(s, 300, 120));
    for (let t = 0; t < 60_000; t += 5) {
      clock.runUntil(t);
      maxUsage = Math.max(maxUsage, engine.load().kvCacheUsage);
    }
    clock.runAll();
    // 6 × (300 + 120) tokens = 2520 > 1600: someone had to give blocks back.
    expect(engine.load().preemptions).toBeGreaterThan(0);
    expect(maxUsage).toBeLessThanOrEqual(1);
    expect(maxUsage).toBeGreaterThan(0.9);
    for (const s of seen) expect(s.outputsAtMs).toHaveLength(120);
    expect(engine.load()).toMatchObject({ running: 0, waiting: 0, kvCacheUsage: 0 });
  });
});

describe('slots (llama.cpp --parallel)', () => {
  it('requests beyond the slots are deferred until one frees', () => {
    const clock = new VirtualClock();
    const limits = { ...VLLM, maxNumSeqs: 2 };
    const engine = new BatchEngine(limits, COST, clock, mulberry32(3));
    const seen = Array.from({ length: 3 }, (): Seen => ({ outputsAtMs: [] }));
    for (const s of seen) engine.submit(job(s, 100, 10));
    clock.runUntil(1);
    expect(engine.load()).toMatchObject({ running: 2, waiting: 1 });
    clock.runAll();
    const firstDone = Math.min(...seen.slice(0, 2).map((s) => s.outputsAtMs.at(-1) as number));
    expect(seen[2]?.startAtMs).toBeCloseTo(firstDone, 9);
    expect(seen[2]?.queuedMs).toBeCloseTo(firstDone, 9);
  });

  it('a released request frees its slot at once', () => {
    const clock = new VirtualClock();
    const engine = new BatchEngine({ ...VLLM, maxNumSeqs: 1 }, COST, clock, mulberry32(3));
    const a: Seen = { outputsAtMs: [] };
    const b: Seen = { outputsAtMs: [] };
    const ticket = engine.submit(job(a, 100, 1000));
    engine.submit(job(b, 100, 2));
    clock.runUntil(200);
    ticket.release();
    clock.runAll();
    expect(b.startAtMs).toBeGreaterThanOrEqual(200);
    expect(b.startAtMs).toBeLessThan(260);
    expect(b.outputsAtMs).toHaveLength(2);
  });
});
