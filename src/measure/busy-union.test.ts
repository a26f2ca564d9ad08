import { describe, expect, it } from 'vitest';
import { BusyUnion } from './busy-union.ts';

describe('BusyUnion', () => {
  it('counts overlapping intervals once, whatever order they finish in', () => {
    const u = new BusyUnion(60_000);
    // A long batch [0, 100] finishes after a short one inside it and one overlapping its end.
    expect(u.add(20, 40)).toBe(20);
    expect(u.add(90, 130)).toBe(40);
    expect(u.add(0, 100)).toBe(70); // [0,20] + [40,90]
    expect(u.coveredMs).toBe(130);
    // Wholly inside what is covered: no new busy time.
    expect(u.add(10, 120)).toBe(0);
  });

  it('keeps disjoint busy periods apart (idle time between them is not busy)', () => {
    const u = new BusyUnion(60_000);
    expect(u.add(0, 10)).toBe(10);
    expect(u.add(1000, 1010)).toBe(10);
    expect(u.add(500, 505)).toBe(5);
    expect(u.coveredMs).toBe(25);
    // Bridging two segments adds only the gaps between them.
    expect(u.add(5, 1005)).toBe(490 + 495);
    expect(u.coveredMs).toBe(1010);
  });

  it('hands out whole milliseconds that sum to the union, rounded', () => {
    const u = new BusyUnion(60_000);
    let sum = 0;
    for (let k = 0; k < 100; k++) sum += u.add(k * 10, k * 10 + 2.3);
    expect(sum).toBe(Math.round(100 * 2.3));
  });

  it('forgets segments older than the longest request, and ignores empty intervals', () => {
    const u = new BusyUnion(100);
    u.add(0, 10);
    u.add(1000, 1010);
    // [0, 10] was dropped: an interval reaching back over it counts it again (it cannot happen
    // when keepMs is the longest request, which is the contract).
    expect(u.add(0, 10)).toBe(10);
    expect(u.add(5, 5)).toBe(0);
    expect(u.add(7, 3)).toBe(0);
  });
});
