import { describe, expect, it } from 'vitest';
import { bestOneSecondRate, decodeRate, gaps } from './token-rates.ts';

describe('decodeRate', () => {
  it('is (N − 1) / (last − first)', () => {
    expect(decodeRate(101, 200, 1200)).toBe(100);
    expect(decodeRate(43, 20, 50)).toBe(1400);
  });
  it('is undefined for one token or an empty span', () => {
    expect(decodeRate(1, 0, 10)).toBeUndefined();
    expect(decodeRate(5, 10, 10)).toBeUndefined();
  });
});

describe('bestOneSecondRate', () => {
  it('equals the decode rate for a steady stream longer than a second', () => {
    const times = Array.from({ length: 301 }, (_, i) => 100 + i * 10); // 100 tok/s for 3 s
    expect(bestOneSecondRate(times)).toBe(100);
  });

  it('finds the fastest second wherever it lies', () => {
    // 1 s at 20 tok/s, then 1 s at 200 tok/s, then 1 s at 20 tok/s.
    const slow1 = Array.from({ length: 20 }, (_, i) => i * 50);
    const fast = Array.from({ length: 201 }, (_, i) => 1000 + i * 5);
    const slow2 = Array.from({ length: 20 }, (_, i) => 2000 + (i + 1) * 50);
    expect(bestOneSecondRate([...slow1, ...fast, ...slow2])).toBe(200);
  });

  it('uses the whole decode phase when it is shorter than a second', () => {
    expect(bestOneSecondRate([0, 100, 200, 300, 400])).toBe(10);
  });

  it('spreads the server token count over events that carry several tokens', () => {
    const times = Array.from({ length: 101 }, (_, i) => i * 20); // 50 events/s for 2 s
    expect(bestOneSecondRate(times, 2)).toBe(100);
  });

  it('is undefined with fewer than two events', () => {
    expect(bestOneSecondRate([5])).toBeUndefined();
  });
});

describe('gaps', () => {
  it('lists consecutive differences', () => {
    expect(gaps([1, 4, 9])).toEqual([3, 5]);
    expect(gaps([1])).toEqual([]);
  });
});
