import { describe, expect, it } from 'vitest';
import { nearestRank } from './nearest-rank.ts';

describe('nearest-rank percentile', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
  it.each([
    [0.5, 50],
    [0.95, 95],
    [0.99, 99],
    [1, 100],
    [0.001, 1],
  ])('P%s of 1..100 is %s', (q, expected) => {
    expect(nearestRank(hundred, q)).toBe(expected);
  });

  it('agrees with the ratio verdict: P95 ≤ t exactly when ≥ 95% of samples are ≤ t', () => {
    const samples = [...Array.from({ length: 190 }, () => 500), ...Array.from({ length: 10 }, () => 900)];
    expect(nearestRank(samples, 0.95)).toBe(500); // 190/200 = 95% at 500
    expect(nearestRank([...samples.slice(1), 900], 0.95)).toBe(900); // 189/200 < 95%
  });

  it('is undefined without samples and does not reorder its input', () => {
    expect(nearestRank([], 0.5)).toBeUndefined();
    const input = [3, 1, 2];
    nearestRank(input, 0.5);
    expect(input).toEqual([3, 1, 2]);
  });
});
