import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { Incident } from '../probes/types.ts';
import { aggregateRate, aggregateText, judgeAggregate, rateWindowsText } from './aggregate-rate.ts';
import { foldRecords } from './buckets.ts';
import type { ObjectiveVerdict } from './evaluate.ts';
import { evaluateFleet } from './evaluate.ts';
import { objectivesFor } from './objectives.ts';
import { record } from './test-data.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const MIN = 60_000;
const NOW = Date.parse('2026-12-01T20:00:00Z');
const rate = objectivesFor(fleet).find((o) => o.id === 'embeddings-embeddings-rate');
if (!rate) throw new Error('no embeddings rate objective');

/** `n` embeddings batches of `inputs`, one every `everyMs` from `fromMs`, each adding `busyMs`. */
function batches(n: number, fromMs: number, everyMs: number, busyMs: number, inputs = 32) {
  return Array.from({ length: n }, (_, k) =>
    record({
      endpoint: 'embeddings',
      operation: 'embeddings',
      startedAtMs: fromMs + k * everyMs,
      inputCount: inputs,
      ttftMs: 40,
      busyMs,
    }),
  );
}

function verdict(records: ReturnType<typeof batches>, incidents: Incident[] = []): ObjectiveVerdict {
  const v = evaluateFleet(fleet, {
    buckets: foldRecords(fleet, records),
    incidents,
    nowMs: NOW,
    sinceMs: NOW - 60 * MIN,
  });
  const o = v.endpoints.flatMap((e) => e.objectives).find((x) => x.objective.id === rate?.id);
  if (!o) throw new Error('no verdict');
  return o;
}

describe('aggregate embeddings rate', () => {
  it('is inputs over busy time, however long each batch took on its own', () => {
    // 100 batches of 32, each 40 ms long but overlapping so each adds 5 ms of busy time:
    // 3200 inputs in 0.5 s busy = 6400/s, though every batch alone reads 32 / 40 ms = 800/s.
    const o = verdict(batches(100, NOW - 50 * MIN, 30_000, 5));
    expect(o.aggregate).toMatchObject({ units: 3200, busyMs: 500, ratePerSecond: 6400 });
    expect(o.verdict).toBe('ok');
    expect(o.measured.value).toBe(6400);
    expect(o.reason).toBe('6400/s: 3200 inputs in 500 ms busy (aggregate; floor 5000/s)');
    expect(aggregateText(o.aggregate ?? { units: 0, busyMs: 0 })).toBe('6400/s · 3200 inputs / 0.5 s busy');
  });

  it('breaches under the floor, and the alert fires when the last 5 minutes and hour both are under it', () => {
    // 3200 inputs in 0.8 s = 4000/s, spread over the whole hour (so both alert windows see traffic).
    const o = verdict(batches(100, NOW - 59 * MIN, 35_000, 8));
    expect(o.aggregate?.ratePerSecond).toBe(4000);
    expect(o.verdict).toBe('breach');
    expect(o.aggregate?.firing).toBe(true);
    expect(o.reason).toBe(
      '4000/s: 3200 inputs in 800 ms busy (aggregate; floor 5000/s); rate alert firing (under 5000/s over 5m and 1h)',
    );
    expect(rateWindowsText(o.aggregate ?? { windows: [] })).toBe('5m 4000/s · 1h 4000/s');
  });

  it('exactly at the floor is met (5000/s: 32 inputs per 6.4 ms of busy time)', () => {
    expect(judgeAggregate({ units: 3200, busyMs: 640, ratePerSecond: 5000, minimumUnits: 640 }, 5000)).toBe(
      'ok',
    );
    expect(
      judgeAggregate({ units: 3200, busyMs: 641, ratePerSecond: 3200_000 / 641, minimumUnits: 640 }, 5000),
    ).toBe('breach');
  });

  it('says not enough data under 20 batches of 32, whatever the rate, and no data without batches', () => {
    const few = verdict(batches(19, NOW - 30 * MIN, 60_000, 100));
    expect(few.aggregate).toMatchObject({ units: 608, busyMs: 1900, minimumUnits: 640 });
    expect(few.verdict).toBe('not-enough-data');
    expect(few.reason).toBe(
      'not enough data: 608 inputs in 1.9 s busy; 640 inputs (20 batches of 32) are needed before an aggregate rate can be judged',
    );
    expect(verdict(batches(20, NOW - 30 * MIN, 60_000, 100)).verdict).toBe('breach');
    // Single queries never count: they would answer in a fraction of a batch's time.
    const none = verdict(batches(50, NOW - 30 * MIN, 30_000, 1, 1));
    expect(none.verdict).toBe('no-data');
    expect(none.reason).toBe('no batches in range (only batches of at least 32 inputs count)');
  });

  it('names the outage when the rate outside its minutes meets the floor', () => {
    // Healthy batches (6400/s) all hour, and during a 3-minute embeddings outage batches that waited
    // out failover timeouts: 10 × 32 inputs with 2 s busy each.
    const healthy = batches(100, NOW - 59 * MIN, 35_000, 5);
    const slow = batches(10, NOW - 30 * MIN, 10_000, 2000);
    const incident: Incident = {
      endpoint: 'embeddings',
      startedAtMs: NOW - 30 * MIN,
      endedAtMs: NOW - 28 * MIN,
      cause: 'connect_refused',
    };
    const o = verdict([...healthy, ...slow], [incident]);
    expect(o.verdict).toBe('breach');
    // Outside the outage's minutes (19:30–19:32 whole): 95 healthy batches, 3040 inputs in 475 ms.
    expect(o.reason).toContain(
      "; under the floor only with the outage's minutes (embeddings connect_refused 19:30:00–19:32:00): 6400/s outside them",
    );
  });

  it('reads the alert windows from the minutes that start in [now − W, now), like the rules', () => {
    const buckets = foldRecords(fleet, [
      ...batches(1, NOW - 4 * MIN, 1, 10), // inside 5m and 1h
      ...batches(1, NOW - 30 * MIN, 1, 20), // inside 1h only
      ...batches(1, NOW, 1, 1000), // the minute starting at now: in the range, in no alert window
    ]);
    const a = aggregateRate(buckets, rate, { sinceMs: NOW - 60 * MIN, nowMs: NOW });
    expect(a.windows.map((w) => [w.units, w.busyMs])).toEqual([
      [32, 10],
      [64, 30],
    ]);
    expect([a.units, a.busyMs]).toEqual([96, 1030]);
  });
});
