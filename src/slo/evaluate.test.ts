import { describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet/index.ts';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { foldProbes, foldRecords } from './buckets.ts';
import type { EvaluationData, FleetVerdict, ObjectiveVerdict } from './evaluate.ts';
import {
  evaluateFleet,
  formatMinutes,
  formatPercent,
  judgeCounts,
  minimumValidEvents,
  samplesFromRecords,
} from './evaluate.ts';
import { probe, record } from './test-data.ts';

const MIN = 60_000;
// Tuesday 2026-12-01 12:00 in Los Angeles (PST): inside business hours, first day of the month there.
const NOW = Date.parse('2026-12-01T20:00:00Z');
const DAY = 24 * 60 * MIN;

function objective(v: FleetVerdict, id: string): ObjectiveVerdict {
  const o = v.endpoints.flatMap((e) => e.objectives).find((x) => x.objective.id === id);
  if (!o) throw new Error(`no ${id}`);
  return o;
}

/** 100 coder requests in the last hour: TTFT 100, 200 … 10 000 ms (every 100 ms), decode 50 + i tok/s. */
function coderRecords(): RequestRecord[] {
  return Array.from({ length: 100 }, (_, i) =>
    record({
      endpoint: 'coder',
      startedAtMs: NOW - 60 * MIN + i * 30_000,
      ttftMs: (i + 1) * 100,
      decodeTokensPerSecond: 50 + i,
      burstTokensPerSecond: 200,
    }),
  );
}

/** Probes every minute on Monday 2026-11-30 and Tuesday 2026-12-01 (LA), failing 09:00–09:29 on Tuesday. */
function probes(endpoint: string): ProbeResult[] {
  const out: ProbeResult[] = [];
  const tuesday0900 = Date.parse('2026-12-01T17:00:00Z');
  for (let t = NOW - 2 * DAY; t < NOW; t += MIN)
    out.push(probe(endpoint, t, !(t >= tuesday0900 && t < tuesday0900 + 30 * MIN)));
  return out;
}

function data(fleet: Fleet, over: Partial<EvaluationData> = {}): EvaluationData {
  const records = coderRecords();
  return {
    buckets: [...foldRecords(fleet, records), ...foldProbes(fleet, [...probes('coder'), ...probes('small')])],
    samples: samplesFromRecords(records),
    incidents: [
      {
        endpoint: 'coder',
        startedAtMs: Date.parse('2026-12-01T17:00:00Z'),
        endedAtMs: Date.parse('2026-12-01T17:30:00Z'),
        cause: 'http_503',
      },
    ],
    nowMs: NOW,
    sinceMs: NOW - 7 * DAY,
    ...over,
  };
}

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });

describe('evaluateFleet', () => {
  const v = evaluateFleet(fleet, data(fleet));

  it('judges latency as a ratio of good requests and shows the nearest-rank value beside the target', () => {
    const p95 = objective(v, 'coder-ttft-p95'); // ≤ 2000 ms: 20 of 100
    expect(p95.measured).toEqual({
      good: 20,
      total: 100,
      ratio: 0.2,
      value: 9500,
      valuePercentile: 0.95,
      samples: 100,
    });
    expect(p95.verdict).toBe('breach');
    expect(p95.budget?.consumedBad).toBe(80);
    expect(p95.budgetRemaining).toBeCloseTo(1 - 80 / 5, 9);
    expect(p95.reason).toBe('20 of 100 requests good (20%; target 95%); page burn-rate alert firing');
    const sustained = objective(v, 'coder-throughput-sustained'); // ≥ 80 tok/s: 50+i ≥ 80 for i ≥ 30
    expect(sustained.measured).toMatchObject({ good: 70, total: 100, value: 99, valuePercentile: 0.5 });
    expect(sustained.verdict).toBe('ok');
  });

  it('availability over the range, the calendar month in Los Angeles, and rolling 30 days', () => {
    const a = objective(v, 'coder-availability');
    // Monday 09:00–18:00 (540 minutes, all good) and Tuesday 09:00–12:00 (180 minutes, 30 failed).
    expect(a.measured).toMatchObject({ good: 690, total: 720 });
    expect(a.availability?.calendarMonth).toMatchObject({
      good: 150,
      total: 180,
      fromMs: Date.parse('2026-12-01T08:00:00Z'),
    });
    expect(a.availability?.rolling30Days).toMatchObject({ good: 690, total: 720 });
    expect(a.verdict).toBe('breach'); // 95.8% < 99%
  });

  it('recovery: a 30-minute outage against 5 minutes', () => {
    const r = objective(v, 'coder-recovery');
    expect(r.verdict).toBe('breach');
    expect(r.reason).toBe('1 incident(s), 1 over 5 min worst 30 min');
  });

  it('best-effort endpoints are measured and reported, never judged', () => {
    const small = v.endpoints.find((e) => e.endpoint === 'small')!;
    expect(small.planned).toBe(true);
    expect(small.objectives.map((o) => [o.objective.id, o.verdict])).toEqual([
      ['small-availability', 'best-effort'],
    ]);
    expect(small.objectives[0]?.measured).toMatchObject({ good: 2850, total: 2880 }); // always: every minute
    expect(small.status).toBe('ok');
  });

  it('endpoints without data say so', () => {
    const fast = v.endpoints.find((e) => e.endpoint === 'coder-fast')!;
    expect(fast.status).toBe('no-data');
    expect(new Set(fast.objectives.map((o) => o.verdict))).toEqual(new Set(['no-data']));
  });

  it('the fleet is in breach, and the newest data is the last probe minute', () => {
    expect(v.breach).toBe(true);
    expect(v.lastDataMs).toBe(NOW - MIN);
  });

  it('under --env ci performance objectives are judged but never fail; availability still does', () => {
    const ci = loadFleet('examples/onex.fleet.yaml', { env: {}, environment: 'ci' });
    const civ = evaluateFleet(ci, data(ci));
    const p95 = objective(civ, 'coder-ttft-p95');
    expect([p95.assessment, p95.verdict]).toEqual(['breach', 'ci-skip']);
    expect(objective(civ, 'coder-availability').verdict).toBe('breach');
    const perfOnly = evaluateFleet(ci, data(ci, { buckets: foldRecords(ci, coderRecords()), incidents: [] }));
    expect(perfOnly.breach).toBe(false);
    expect(
      evaluateFleet(fleet, data(fleet, { buckets: foldRecords(fleet, coderRecords()), incidents: [] }))
        .breach,
    ).toBe(true);
  });

  it("uses the store's measured values where no raw samples are given", () => {
    const w = evaluateFleet(
      fleet,
      data(fleet, { samples: undefined, observedValues: { 'coder-ttft-p95': 1234 } }),
    );
    expect(objective(w, 'coder-ttft-p95').measured).toMatchObject({ value: 1234, valuePercentile: 0.95 });
    expect(objective(w, 'coder-ttft-p99').measured.value).toBeUndefined();
  });
});

describe('not enough data', () => {
  it('an objective needs enough valid events that one event cannot decide it', () => {
    expect([0.95, 0.99, 0.995, 0.5, 0.05].map(minimumValidEvents)).toEqual([20, 100, 200, 2, 20]);
  });

  it.each([
    // good, total, target → verdict
    [7, 7, 0.99, 'not-enough-data'], // seven fast requests say nothing about the 99th percentile
    [6, 7, 0.99, 'not-enough-data'], // one slow request is what 100 allow…
    [5, 7, 0.99, 'breach'], // …two are more, whatever follows
    [19, 19, 0.95, 'ok'], // even a bad 20th would leave 95%
    [16, 16, 0.95, 'not-enough-data'],
    [0, 5, 0.05, 'not-enough-data'], // burst: no fast request among five proves nothing
    [1, 5, 0.05, 'ok'],
    [0, 20, 0.05, 'breach'],
    [16, 20, 0.99, 'breach'], // four failed probes out of twenty: certain, whatever follows
    [0, 0, 0.95, 'no-data'],
  ])('%s good of %s at target %s: %s', (good, total, target, verdict) => {
    expect(judgeCounts(good, total, target)).toBe(verdict);
  });

  const start = Date.parse('2026-12-01T19:00:00Z'); // 11:00 in Los Angeles: business hours
  const few = (n: number, ttftMs: number): RequestRecord[] =>
    Array.from({ length: n }, (_, i) =>
      record({ endpoint: 'coder', startedAtMs: start + i * 60_000, ttftMs, decodeTokensPerSecond: 100 }),
    );

  it('says so, with how many events are needed, instead of "breach" or "ok"', () => {
    const records = few(7, 100);
    const w = evaluateFleet(fleet, {
      buckets: foldRecords(fleet, records),
      samples: samplesFromRecords(records),
      incidents: [],
      nowMs: start + 10 * MIN,
      sinceMs: start - 50 * MIN,
    });
    const p99 = objective(w, 'coder-ttft-p99');
    expect([p99.assessment, p99.verdict]).toEqual(['not-enough-data', 'not-enough-data']);
    expect(p99.reason).toBe(
      'not enough data: 7 of 7 requests good; 100 requests are needed before a 99% target can be judged',
    );
    expect(w.breach).toBe(false);
    expect(w.endpoints.find((e) => e.endpoint === 'coder')?.status).toBe('ok'); // sustained: 7 of 7 ≥ 2
  });

  it('a breach whose bad events fell in an outage names the outage', () => {
    const down = {
      endpoint: 'coder',
      startedAtMs: start + 2 * MIN,
      endedAtMs: start + 4 * MIN,
      cause: 'connect_refused',
    };
    const probes = Array.from({ length: 20 }, (_, i) => probe('coder', start + i * MIN, i < 2 || i > 4));
    const w = evaluateFleet(fleet, {
      buckets: foldProbes(fleet, probes),
      incidents: [down],
      nowMs: start + 20 * MIN,
      sinceMs: start - 40 * MIN,
    });
    const a = objective(w, 'coder-availability');
    expect(a.verdict).toBe('breach');
    expect(a.reason).toBe(
      '17 of 20 probes good (85%; target 99%); all 3 bad during the outage (coder connect_refused 19:02:00–19:04:00); page burn-rate alert firing',
    );
  });

  it('outside business hours, a business-hours objective says that rather than "no probes"', () => {
    const night = Date.parse('2026-12-02T09:00:00Z'); // 01:00 in Los Angeles
    const w = evaluateFleet(fleet, {
      buckets: foldProbes(fleet, [probe('coder', night - MIN, true)]),
      incidents: [],
      nowMs: night,
      sinceMs: night - 60 * MIN,
    });
    expect(objective(w, 'coder-availability').reason).toMatch(/^outside business hours: /);
    // Its recovery objective counts the same window's probes: it says so too, not "no probes".
    const recovery = objective(w, 'coder-recovery');
    expect(recovery.verdict).toBe('no-data');
    expect(recovery.reason).toMatch(/^outside business hours: .*; no incidents in range$/);
  });

  it('an endpoint with no probes at all in range still says "no probes"', () => {
    const day = Date.parse('2026-12-02T19:00:00Z'); // 11:00 on a Wednesday in Los Angeles
    const w = evaluateFleet(fleet, { buckets: [], incidents: [], nowMs: day, sinceMs: day - 60 * MIN });
    expect(objective(w, 'coder-recovery').reason).toBe('no probes and no incidents in range');
  });
});

describe('figures as people read them', () => {
  it.each([
    [6_000, '6 s'],
    [60_000, '1 min'],
    [400_000, '6 min 40 s'],
    [1_800_000, '30 min'],
  ])('%s ms reads %s', (ms, text) => {
    expect(formatMinutes(ms)).toBe(text);
  });

  it.each([
    [0.995, '99.5%'],
    [0.8174, '81.74%'],
    [1, '100%'],
  ])('%s reads %s', (ratio, text) => {
    expect(formatPercent(ratio)).toBe(text);
  });
});
