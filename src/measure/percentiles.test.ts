import { describe, expect, it } from 'vitest';
import { percentile, summarize } from './percentiles.ts';

describe('percentile (linear interpolation, numpy type 7)', () => {
  it.each([
    [[1, 2, 3, 4, 5], 50, 3],
    [[1, 2, 3, 4, 5], 95, 4.8],
    [[5, 1, 4, 2, 3], 99, 4.96],
    [[10], 99, 10],
    [[10, 20], 50, 15],
    [[10, 20], 0, 10],
    [[10, 20], 100, 20],
  ])('%j P%d = %d', (values, q, expected) => {
    expect(percentile(values, q)).toBeCloseTo(expected, 10);
  });

  it('puts P99 of 200 samples between the 198th and 199th order statistic (h = 197.01)', () => {
    const values = Array.from({ length: 200 }, (_, i) => 200 - i); // 200..1, unsorted on purpose
    expect(percentile(values, 99)).toBeCloseTo(198.01, 10);
    expect(percentile(values, 95)).toBeCloseTo(190.05, 10);
    expect(percentile(values, 50)).toBeCloseTo(100.5, 10);
  });

  it('is undefined for no samples and ignores non-finite values', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([Number.NaN, 4, Number.POSITIVE_INFINITY, 2], 50)).toBe(3);
  });

  it('rejects a percentile outside 0..100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarizes count, min, max, mean and P50/P95/P99', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toMatchObject({ count: 4, min: 1, max: 4, mean: 2.5, p50: 2.5 });
    expect(s.p95).toBeCloseTo(3.85, 10);
    expect(s.p99).toBeCloseTo(3.97, 10);
    expect(summarize([])).toEqual({ count: 0 });
  });
});
