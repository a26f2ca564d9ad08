import { describe, expect, it } from 'vitest';
import type { MinuteBucket } from './buckets.ts';
import { BURN_RATE_WINDOWS_MS, BURN_WINDOWS, promDuration } from './burn-windows.ts';
import { burnStatus, countsIn, errorBudget, errorRatio } from './burn-rate.ts';

const MIN = 60_000;
const id = 'x-ttft-p95';
/** `minutes` buckets ending at `endMinute` (exclusive), each with `total` events of which `bad` bad. */
function run(fromMinute: number, toMinute: number, total: number, bad: number): MinuteBucket[] {
  return Array.from({ length: toMinute - fromMinute }, (_, i) => ({
    endpoint: 'x',
    objectiveId: id,
    minuteStartMs: (fromMinute + i) * MIN,
    good: total - bad,
    total,
  }));
}

describe('the burn-rate table', () => {
  it('is the Sloth/SRE 30-day table', () => {
    expect(
      BURN_WINDOWS.map((p) => [
        p.name,
        promDuration(p.shortWindowMs),
        promDuration(p.longWindowMs),
        p.factor,
      ]),
    ).toEqual([
      ['page-quick', '5m', '1h', 14.4],
      ['page-slow', '30m', '6h', 6],
      ['ticket-quick', '2h', '1d', 3],
      ['ticket-slow', '6h', '3d', 1],
    ]);
    expect(BURN_RATE_WINDOWS_MS.map(promDuration)).toEqual(['5m', '30m', '1h', '2h', '6h', '1d', '3d']);
  });
});

describe('error budget', () => {
  it.each([
    // [good, total, target, allowed bad, remaining]
    [95, 100, 0.95, 5, 0], // exactly spent
    [99, 100, 0.95, 5, 0.8],
    [80, 100, 0.95, 5, -3], // overspent four times over
    [995, 1000, 0.995, 5, 0],
  ])('%s good of %s against %s: %s bad allowed, %s remaining', (good, total, target, allowed, remaining) => {
    const b = errorBudget({ good, total }, target);
    expect(b.consumedBad).toBe(total - good);
    expect(b.allowedBad).toBeCloseTo(allowed, 9);
    expect(b.remaining).toBeCloseTo(remaining, 9);
  });

  it('has no remaining figure without events; a 100% objective is untouched or spent', () => {
    expect(errorBudget({ good: 0, total: 0 }, 0.99)).toEqual({ allowedBad: 0, consumedBad: 0 });
    expect(errorBudget({ good: 10, total: 10 }, 1).remaining).toBe(1);
    expect(errorBudget({ good: 9, total: 10 }, 1).remaining).toBe(-Infinity);
  });

  it('error ratio is undefined without events', () => {
    expect(errorRatio({ good: 0, total: 0 })).toBeUndefined();
    expect(errorRatio({ good: 3, total: 4 })).toBe(0.25);
  });
});

describe('windows end at now and hold the minutes that start in [now − W, now)', () => {
  const buckets = run(0, 10, 10, 1);
  it('counts exact minutes', () => {
    expect(countsIn(buckets, id, 5 * MIN, 10 * MIN)).toEqual({ good: 45, total: 50 });
    expect(countsIn(buckets, id, 5 * MIN, 9 * MIN)).toEqual({ good: 36, total: 40 });
    expect(countsIn(buckets, 'other', 0, 10 * MIN)).toEqual({ good: 0, total: 0 });
  });
});

describe('burnStatus', () => {
  it('pages when 5m and 1h both burn faster than 14.4× (all bad for the last hour)', () => {
    const buckets = [...run(0, 300, 10, 0), ...run(300, 360, 10, 10)];
    const s = burnStatus(buckets, id, 0.95, 360 * MIN);
    expect(s.windows.map((w) => [promDuration(w.windowMs), w.errorRatio])).toEqual([
      ['5m', 1],
      ['30m', 1],
      ['1h', 1],
      ['2h', 0.5],
      ['6h', 60 / 360],
      ['1d', 60 / 360],
      ['3d', 60 / 360],
    ]);
    expect(s.windows[0]?.burnRate).toBe(1 / (1 - 0.95));
    expect(s.alerts.map((a) => [a.pair.name, a.firing])).toEqual([
      ['page-quick', true],
      ['page-slow', false], // 6h: 16.7% < 6 × 5%
      ['ticket-quick', true], // 2h 50%, 1d 16.7% > 15%
      ['ticket-slow', true],
    ]);
    expect(s.firing).toBe('page');
  });

  it('a short spike alone does not page: the long window must agree', () => {
    const buckets = [...run(0, 355, 10, 0), ...run(355, 360, 10, 10)];
    const s = burnStatus(buckets, id, 0.95, 360 * MIN);
    expect(s.alerts.find((a) => a.pair.name === 'page-quick')?.firing).toBe(false); // 1h: 50/600 = 8.3% < 72%
    // Nor a ticket: ticket-quick needs 2h > 15% (50/1200 = 4.2%), ticket-slow 6h > 5% (50/3600 = 1.4%).
    expect(s.firing).toBe('none');
  });

  it('no events: no ratio, no alert', () => {
    const s = burnStatus([], id, 0.99, 1000 * MIN);
    expect(s.windows.every((w) => w.errorRatio === undefined && w.burnRate === undefined)).toBe(true);
    expect(s.firing).toBe('none');
  });
});
