import { describe, expect, it } from 'vitest';
import { predictTtft, updateTtftModel, type TtftModel } from './predict.ts';

const model: TtftModel = {
  overheadMs: 100,
  prefillMsPerToken: 0.2,
  sigma: Math.log(2) / 2.3263478740408408,
  correction: 1,
  loadMsPerSequence: 10,
  serviceMs: 2000,
  observations: 0,
  source: 'fleet-file',
};

describe('predictTtft', () => {
  it.each([
    // [in flight, waiting tokens, slots, prompt, median]
    [0, 0, undefined, 500, 200],
    [10, 0, undefined, 500, 300],
    // W waiting tokens are prefilled first; the batch's share is per step, not per prompt token.
    [10, 1000, undefined, 500, 500],
    // A prompt over one step's budget (2048) shares more steps with the batch: 2 here.
    [10, 0, undefined, 4096, 100 + 4096 * 0.2 + 10 * 2 * 10],
    [4, 0, 4, 500, 200 * 1.2 + 500],
    [7, 0, 4, 500, 200 * 1.2 + 2000],
  ] as const)('L=%i W=%i slots=%s N=%i → median %f ms', (inFlight, waiting, slots, prompt, median) => {
    const p = predictTtft(model, { inFlight, prefillWaitingTokens: waiting, slots }, prompt);
    expect(p.medianMs).toBeCloseTo(median, 6);
    expect(p.p99Ms / p.medianMs).toBeCloseTo(2, 6);
    expect(p.p95Ms).toBeLessThan(p.p99Ms);
  });
});

describe('updateTtftModel', () => {
  it('learns the idle scale and the slowdown per sequence from observations', () => {
    // The truth: twice the prior idle cost, and 40 ms more per sequence in flight.
    const truth = { ...model, correction: 2, loadMsPerSequence: 40 };
    let m = model;
    for (let i = 0; i < 400; i++) {
      const inFlight = i % 2 === 0 ? 0 : 10 + (i % 20);
      const load = { inFlight, prefillWaitingTokens: 0 };
      m = updateTtftModel(m, { promptTokens: 500, load, ttftMs: predictTtft(truth, load, 500).medianMs });
    }
    expect(m.correction).toBeCloseTo(2, 2);
    expect(m.loadMsPerSequence).toBeCloseTo(40, 1);
    expect(m.observations).toBe(400);
  });

  it('fits overhead and per-token cost once prompt sizes vary', () => {
    const truth = { ...model, overheadMs: 50, prefillMsPerToken: 0.05, loadMsPerSequence: 0 };
    let m = model;
    for (let i = 0; i < 300; i++) {
      const promptTokens = 200 + (i % 10) * 400;
      const load = { inFlight: 0, prefillWaitingTokens: 0 };
      m = updateTtftModel(m, { promptTokens, load, ttftMs: predictTtft(truth, load, promptTokens).medianMs });
    }
    expect(m.overheadMs).toBeCloseTo(50, 0);
    expect(m.prefillMsPerToken).toBeCloseTo(0.05, 3);
    expect(predictTtft(m, { inFlight: 0, prefillWaitingTokens: 0 }, 10_000).medianMs).toBeCloseTo(550, -1);
  });

  it('ignores nonsense and does not let the first residuals blow up the spread', () => {
    expect(
      updateTtftModel(model, {
        promptTokens: 500,
        load: { inFlight: 0, prefillWaitingTokens: 0 },
        ttftMs: NaN,
      }),
    ).toBe(model);
    const once = updateTtftModel(model, {
      promptTokens: 500,
      load: { inFlight: 0, prefillWaitingTokens: 0 },
      ttftMs: 2,
    });
    expect(once.sigma).toBe(model.sigma);
    expect(once.correction).toBeLessThan(0.2);
  });
});
