import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { foldProbes, foldRecords, mergeBuckets } from './buckets.ts';
import { probeEvents, rateEvents, requestEvents } from './events.ts';
import { probe, record } from './test-data.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const MON_10_PDT = Date.parse('2026-03-09T17:00:00Z');
const SAT = Date.parse('2026-03-07T18:00:00Z');

describe('requestEvents', () => {
  it('judges one request against every request objective of its endpoint', () => {
    const r = record({
      endpoint: 'coder',
      startedAtMs: 0,
      ttftMs: 2500,
      decodeTokensPerSecond: 70,
      burstTokensPerSecond: 160,
    });
    expect(requestEvents(fleet, r)).toEqual([
      { objectiveId: 'coder-ttft-p95', endpoint: 'coder', outcome: 'bad' }, // 2500 > 2000
      { objectiveId: 'coder-ttft-p99', endpoint: 'coder', outcome: 'good' }, // 2500 ≤ 4000
      { objectiveId: 'coder-throughput-sustained', endpoint: 'coder', outcome: 'bad' }, // 70 < 80
      { objectiveId: 'coder-throughput-burst', endpoint: 'coder', outcome: 'good' }, // 160 ≥ 150
    ]);
  });

  it('applies the degraded factor (×4 in the example) only to requests served while the host was degraded', () => {
    const slow = { endpoint: 'coder', startedAtMs: 0, ttftMs: 7000 } as const;
    const outcome = (degraded: boolean, f = fleet): string[] =>
      requestEvents(f, record({ ...slow, degraded })).map((e) => `${e.objectiveId}:${e.outcome}`);
    expect(outcome(false)).toEqual(['coder-ttft-p95:bad', 'coder-ttft-p99:bad']);
    expect(outcome(true)).toEqual(['coder-ttft-p95:good', 'coder-ttft-p99:good']); // 7000 ≤ 8000, ≤ 16000
    // Loaded with --env degraded the factor is already in the targets: not applied twice.
    const degradedFleet = loadFleet('examples/onex.fleet.yaml', { env: {}, environment: 'degraded' });
    expect(outcome(true, degradedFleet)).toEqual(['coder-ttft-p95:good', 'coder-ttft-p99:good']);
    expect(
      requestEvents(degradedFleet, record({ ...slow, ttftMs: 9000, degraded: true })).map((e) => e.outcome),
    ).toEqual(['bad', 'good']);
  });

  it('counts no latency event for failed requests (they belong to availability)', () => {
    expect(requestEvents(fleet, record({ endpoint: 'coder', startedAtMs: 0, outcome: 'timeout' }))).toEqual(
      [],
    );
  });

  it('judges embeddings batches by latency; the embeddings rate takes their inputs and busy time', () => {
    const r = record({
      endpoint: 'embeddings',
      startedAtMs: 0,
      operation: 'embeddings',
      ttftMs: 5,
      inputCount: 32,
      busyMs: 3,
    });
    // No good/bad event for the rate: it is one quotient over the range, not a share of requests.
    expect(requestEvents(fleet, r).map((e) => `${e.objectiveId}:${e.outcome}`)).toEqual([
      'embeddings-ttft-p95:good',
      'embeddings-ttft-p99:good',
    ]);
    expect(rateEvents(fleet, r)).toEqual([
      { objectiveId: 'embeddings-embeddings-rate', endpoint: 'embeddings', units: 32, busyMs: 3 },
    ]);
    // A single query, a failed batch, or one without the gateway's busy time does not count.
    expect(rateEvents(fleet, { ...r, inputCount: 1 })).toEqual([]);
    expect(rateEvents(fleet, { ...r, outcome: 'upstream_error' })).toEqual([]);
    expect(rateEvents(fleet, { ...r, busyMs: undefined })).toEqual([]);
    // A batch wholly overlapped by others adds its inputs and no busy time.
    expect(rateEvents(fleet, { ...r, busyMs: 0 })[0]).toMatchObject({ units: 32, busyMs: 0 });
  });
});

describe('probeEvents', () => {
  it('counts business-hours availability only inside the window, always-availability always', () => {
    expect(probeEvents(fleet, probe('coder', MON_10_PDT, false))).toEqual([
      { objectiveId: 'coder-availability', endpoint: 'coder', outcome: 'bad' },
    ]);
    expect(probeEvents(fleet, probe('coder', SAT, false))).toEqual([]);
    expect(probeEvents(fleet, probe('embeddings', SAT, true))).toEqual([
      { objectiveId: 'embeddings-availability', endpoint: 'embeddings', outcome: 'good' },
    ]);
  });

  it('counts a best-effort endpoint too (reported, never judged)', () => {
    expect(probeEvents(fleet, probe('small', SAT, true))).toEqual([
      { objectiveId: 'small-availability', endpoint: 'small', outcome: 'good' },
    ]);
  });
});

describe('buckets', () => {
  it('fold events into per-minute good/total per objective', () => {
    const t = MON_10_PDT;
    const buckets = foldProbes(fleet, [
      probe('coder', t, true),
      probe('coder', t + 15_000, false),
      probe('coder', t + 59_999, true),
      probe('coder', t + 60_000, true),
    ]);
    expect(buckets).toEqual([
      { endpoint: 'coder', objectiveId: 'coder-availability', minuteStartMs: t, good: 2, total: 3 },
      { endpoint: 'coder', objectiveId: 'coder-availability', minuteStartMs: t + 60_000, good: 1, total: 1 },
    ]);
  });

  it('merge sums the same minute and keeps the rest', () => {
    const a = foldRecords(fleet, [record({ endpoint: 'coder', startedAtMs: 60_000, ttftMs: 100 })]);
    const b = foldRecords(fleet, [record({ endpoint: 'coder', startedAtMs: 61_000, ttftMs: 3000 })]);
    const merged = mergeBuckets(a, b).filter((x) => x.objectiveId === 'coder-ttft-p95');
    expect(merged).toEqual([
      { endpoint: 'coder', objectiveId: 'coder-ttft-p95', minuteStartMs: 60_000, good: 1, total: 2 },
    ]);
  });
});
