import { describe, expect, it } from 'vitest';
import type { Fleet } from '../fleet/index.ts';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { foldProbes, foldRecords } from './buckets.ts';
import type { EvaluationData, FleetVerdict, ObjectiveVerdict } from './evaluate.ts';
import { evaluateFleet, formatMinutes, formatPercent, samplesFromRecords } from './evaluate.ts';
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
