import { describe, expect, it } from 'vitest';
import { proposeThresholds, roundNeverZero } from './thresholds.ts';

const SEED = {
  safetyMargin: 2,
  basePercentile: 'same' as const,
  ttftRoundingMs: 100,
  throughputRoundingTokensPerSecond: 500,
  embeddingsRoundingPerSecond: 500,
};

describe('proposeThresholds', () => {
  const inputs = {
    latencyMs: { p50: 400, p95: 730, p99: 1210 },
    decodeTokensPerSecond: { p50: 173, p95: 190, p99: 195 },
    burstTokensPerSecond: { p50: 250, p95: 301, p99: 320 },
    networkOverheadMs: 12,
  };

  it('TTFT target = (measured percentile + overhead) × margin, nearest 100 ms, P95 and P99 each', () => {
    const p = proposeThresholds(inputs, SEED);
    expect(p.ttftP95Ms).toMatchObject({
      exact: 1484,
      value: 1500,
      from: 'p95',
      measured: 730,
      roundingStep: 100,
    });
    expect(p.ttftP99Ms).toMatchObject({ exact: 2444, value: 2400, from: 'p99', measured: 1210 });
    expect(p.ttftP95Ms?.formula).toBe('(730 ms p95 + 12 ms network) × 2');
  });

  it("base 'p99' derives both TTFT targets from the measured P99", () => {
    const p = proposeThresholds(inputs, { ...SEED, basePercentile: 'p99' });
    expect(p.ttftP95Ms).toMatchObject({ exact: 2444, value: 2400, from: 'p99' });
    expect(p.ttftP99Ms).toMatchObject({ exact: 2444, value: 2400, from: 'p99' });
  });

  it('throughput floors = measured / margin, with a step that cannot erase them (500 → 10 below 4000)', () => {
    const p = proposeThresholds(inputs, SEED);
    // sustained: P50 173 / 2 = 86.5 → step 10 → 90; burst: P95 301 / 2 = 150.5 → step 10 → 150
    expect(p.sustainedTokensPerSecond).toMatchObject({
      exact: 86.5,
      value: 90,
      roundingStep: 10,
      from: 'p50',
    });
    expect(p.burstTokensPerSecond).toMatchObject({ exact: 150.5, value: 150, roundingStep: 10, from: 'p95' });
  });

  it('embeddings: latency like TTFT, embeddings/s floor keeps the 500 step where it is safe', () => {
    const p = proposeThresholds(
      { latencyMs: { p95: 61, p99: 88 }, embeddingsPerSecond: { p50: 10_850 }, networkOverheadMs: 14 },
      SEED,
    );
    expect(p.ttftP95Ms).toMatchObject({ exact: 150, value: 200 }); // 150 rounds half up
    expect(p.ttftP99Ms).toMatchObject({ exact: 204, value: 200 });
    expect(p.embeddingsPerSecond).toMatchObject({ exact: 5425, value: 5500, roundingStep: 500 });
  });

  it('uses the margin from the fleet file', () => {
    const p = proposeThresholds(inputs, { ...SEED, safetyMargin: 1.5 });
    expect(p.ttftP95Ms).toMatchObject({ exact: 1113, value: 1100 });
    expect(p.sustainedTokensPerSecond).toMatchObject({ value: 120, roundingStep: 10 }); // 115.33 → 120
  });

  it('proposes nothing for a metric that was not measured', () => {
    const p = proposeThresholds({ latencyMs: {}, networkOverheadMs: 0 }, SEED);
    expect(p).toEqual({
      ttftP95Ms: undefined,
      ttftP99Ms: undefined,
      sustainedTokensPerSecond: undefined,
      burstTokensPerSecond: undefined,
      embeddingsPerSecond: undefined,
    });
  });

  it('never proposes zero: a tiny TTFT keeps two significant digits', () => {
    const p = proposeThresholds({ latencyMs: { p95: 20, p99: 24 }, networkOverheadMs: 1 }, SEED);
    expect(p.ttftP95Ms?.value).toBe(42);
    expect(p.ttftP99Ms?.value).toBe(100); // 50 rounds half up to 100
  });
});

describe('roundNeverZero', () => {
  it.each([
    [1484, 100, 1500],
    [1449.9, 100, 1400],
    [86.5, 10, 90],
    [3, 1, 3],
    [0.25, 1, 0.25],
    [0.123456, 1, 0.12],
    [0, 100, 0],
  ])('%d at step %d → %d', (value, step, expected) => {
    expect(roundNeverZero(value, step)).toBe(expected);
  });
});
