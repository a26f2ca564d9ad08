import { describe, expect, it } from 'vitest';
import { arrivalOffsetsMs, gammaSample, seededRandom, sweepLevels } from './arrivals.ts';

describe('arrivalOffsetsMs', () => {
  it('spans exactly n / rate seconds and increases', () => {
    const offsets = arrivalOffsetsMs(200, 20, 1, 7);
    expect(offsets).toHaveLength(200);
    expect(offsets[199]).toBeCloseTo(10_000, 6);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1] as number);
  });

  it('is reproducible from the seed', () => {
    expect(arrivalOffsetsMs(5, 10, 1, 3)).toEqual(arrivalOffsetsMs(5, 10, 1, 3));
    expect(arrivalOffsetsMs(5, 10, 1, 3)).not.toEqual(arrivalOffsetsMs(5, 10, 1, 4));
  });

  it('burstiness orders the spread of the gaps: CV² = 1/shape', () => {
    const cv2 = (shape: number): number => {
      const o = arrivalOffsetsMs(20_000, 100, shape, 11);
      const g = o.map((t, i) => t - (i === 0 ? 0 : (o[i - 1] as number)));
      const mean = g.reduce((s, x) => s + x, 0) / g.length;
      const variance = g.reduce((s, x) => s + (x - mean) ** 2, 0) / g.length;
      return variance / mean ** 2;
    };
    expect(cv2(1)).toBeGreaterThan(0.9);
    expect(cv2(1)).toBeLessThan(1.1);
    expect(cv2(0.25)).toBeGreaterThan(3.5);
    expect(cv2(4)).toBeLessThan(0.3);
  });

  it('rejects a rate or burstiness that is not positive', () => {
    expect(() => arrivalOffsetsMs(1, 0)).toThrow(RangeError);
    expect(() => arrivalOffsetsMs(1, 1, 0)).toThrow(RangeError);
  });
});

describe('gammaSample', () => {
  it('has mean = shape', () => {
    const rand = seededRandom(5);
    for (const shape of [0.5, 1, 3]) {
      let sum = 0;
      for (let i = 0; i < 20_000; i++) sum += gammaSample(shape, rand);
      expect(sum / 20_000).toBeCloseTo(shape, 1);
    }
  });
});

describe('sweepLevels', () => {
  it.each([
    [1, [1]],
    [8, [1, 2, 4, 8]],
    [12, [1, 2, 4, 8, 12]],
  ])('max %d → %j', (max, levels) => {
    expect(sweepLevels(max)).toEqual(levels);
  });
});
