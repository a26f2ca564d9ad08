import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
import { SqliteStore } from './sqlite-store.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const dirs: string[] = [];
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'fleet.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// Tue 2026-03-03 18:00 UTC = 10:00 in Los Angeles: inside business hours.
const T0 = Date.UTC(2026, 2, 3, 18, 0, 0);

function record(i: number, ttftMs: number, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: `r${i}`,
    source: 'gateway',
    operation: 'chat',
    route: 'auto',
    endpoint: 'coder-fast',
    startedAtMs: T0 + i * 1000,
    outcome: 'ok',
    status: 200,
    stream: true,
    attempts: [],
    ttftMs,
    decodeTokensPerSecond: 70,
    burstTokensPerSecond: 130,
    totalMs: ttftMs + 500,
    ...extra,
  };
}

describe('SqliteStore', () => {
  it('migrates a new file in WAL mode and reopens it at the same version', () => {
    const path = tempDb();
    const a = new SqliteStore({ path, fleet });
    expect(a.schemaVersion()).toBe(SCHEMA_VERSION);
    a.close();
    const b = new SqliteStore({ path, fleet });
    expect(b.schemaVersion()).toBe(SCHEMA_VERSION);
    b.close();
  });

  it('migrates a database left at version 1 and keeps its rows', () => {
    const path = tempDb();
    const a = new SqliteStore({ path, fleet });
    a.write(record(1, 400));
    a.write(record(2, 900));
    a.close();
    // Rewind the file to version 1 as an older llm-fleet left it.
    const db = new DatabaseSync(path);
    // Everything later migrations created goes, indexes first (some are on version-1 tables).
    const created = MIGRATIONS.filter((m) => m.version > 1)
      .flatMap((m) => m.statements)
      .flatMap((sql) => {
        const m = /^CREATE (TABLE|INDEX) (\w+)/.exec(sql);
        return m ? [{ kind: m[1] === 'INDEX' ? 'INDEX' : 'TABLE', name: m[2] ?? '' }] : [];
      });
    for (const kind of ['INDEX', 'TABLE'])
      for (const c of created.filter((c) => c.kind === kind)) db.exec(`DROP ${kind} ${c.name}`);
    expect(created.map((c) => c.name)).toEqual(expect.arrayContaining(['endpoint_hours', 'slo_days']));
    db.exec('DELETE FROM schema_version WHERE version > 1');
    db.exec("INSERT INTO optimisation_marks (endpoint, at_ms, note) VALUES ('coder', 1, 'kept')");
    db.close();
    expect(MIGRATIONS.length).toBeGreaterThan(1);
    const b = new SqliteStore({ path, fleet });
    expect(b.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(b.marks()).toEqual([{ endpoint: 'coder', atMs: 1, note: 'kept' }]);
    // The hour rollup was rebuilt from the stored minutes.
    expect(b.series('coder-fast', { fromMs: T0, toMs: T0 + 3_600_000, stepMs: 3_600_000 })).toMatchObject([
      { requests: 2 },
    ]);
    // So were the per-hour and per-day SLO sums and the day histograms: whole days read from them.
    const day = { fromMs: Date.UTC(2026, 2, 3), toMs: Date.UTC(2026, 2, 4) };
    expect(b.objectiveCounts('coder-fast-ttft-p95', day)).toMatchObject({ good: 1, valid: 2 });
    expect(b.sloBucketsCoarse(day, [])).toEqual(
      expect.arrayContaining([
        { objectiveId: 'coder-fast-ttft-p95', endpoint: 'coder-fast', minuteStartMs: T0, good: 1, total: 2 },
      ]),
    );
    expect(b.series('coder-fast', { ...day, stepMs: 86_400_000 })).toMatchObject([{ requests: 2 }]);
    b.saveObservedFingerprint({ endpoint: 'coder', atMs: 5, model: 'a' });
    b.saveObservedFingerprint({ endpoint: 'coder', atMs: 9, model: 'b' });
    expect(b.observedFingerprints()).toEqual([{ endpoint: 'coder', atMs: 9, model: 'b' }]);
    b.close();
  });

  it('batches writes until flush, then answers series, objective counts and buckets', () => {
    const store = new SqliteStore({ path: ':memory:', fleet, flushIntervalMs: 60_000 });
    // 100 requests in two minutes: 90 fast (400 ms), 10 slow (1200 ms > the 800 ms P95 target).
    for (let i = 0; i < 100; i++) store.write(record(i, i % 10 === 9 ? 1200 : 400));
    store.write(record(200, 0, { outcome: 'upstream_error', status: 502, ttftMs: undefined }));
    const range = { fromMs: T0, toMs: T0 + 10 * 60_000 };
    expect(store.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({ good: 0, valid: 0 });
    store.flush();
    const counts = store.objectiveCounts('coder-fast-ttft-p95', range);
    expect(counts).toMatchObject({ good: 90, valid: 100 });
    // P95 lands among the slow ones (within the histogram's ±4.4% bucket).
    expect(counts?.observedValue).toBeGreaterThan(1100);
    expect(counts?.observedValue).toBeLessThan(1300);
    const series = store.series('coder-fast', { ...range, stepMs: 60_000 });
    expect(series).toHaveLength(10);
    expect(series[0]).toMatchObject({ atMs: T0, requests: 60, errors: 0 });
    expect(series[1]?.requests).toBe(40);
    expect(series[3]).toMatchObject({ requests: 1, errors: 1, ttftP95Ms: null });
    expect(series[0]?.ttftP50Ms).toBeGreaterThan(380);
    expect(series[0]?.ttftP50Ms).toBeLessThan(420);
    const hourly = store.series('coder-fast', { ...range, stepMs: 3_600_000 });
    expect(hourly[0]?.requests).toBe(101);
    const buckets = store.sloBuckets(range, ['coder-fast-ttft-p95']);
    expect(buckets.map((b) => [b.minuteStartMs - T0, b.good, b.total])).toEqual([
      [0, 54, 60],
      [60_000, 36, 40],
    ]);
    expect(store.records(range, 'coder-fast')).toHaveLength(101);
    store.close();
  });

  it('answers whole hours from the hour rollup and the edges from minutes, with the same totals', () => {
    const store = new SqliteStore({ path: ':memory:', fleet, flushIntervalMs: 60_000 });
    // Three hours of traffic, one request every 30 s, flushed in several batches.
    for (let i = 0; i < 360; i++) {
      store.write(record(i, 200 + (i % 50) * 20, { startedAtMs: T0 + i * 30_000 }));
      if (i % 97 === 0) store.flush();
    }
    store.flush();
    const range = { fromMs: T0 + 17 * 60_000, toMs: T0 + 2 * 3_600_000 + 23 * 60_000 };
    const byMinute = store.series('coder-fast', { ...range, stepMs: 60_000 });
    const byHour = store.series('coder-fast', { ...range, stepMs: 3_600_000 });
    const sum = (points: { requests: number }[]) => points.reduce((n, p) => n + p.requests, 0);
    expect(sum(byMinute)).toBe(2 * (2 * 60 + 6));
    // Hour steps start at the hour: two whole hours from the rollup plus 23 minutes from minute rows.
    expect(byHour).toHaveLength(3);
    expect(sum(byHour)).toBe(
      sum(store.series('coder-fast', { fromMs: T0, toMs: range.toMs, stepMs: 60_000 })),
    );
    const counts = store.objectiveCounts('coder-fast-ttft-p95', range);
    expect(counts?.valid).toBe(sum(byMinute));
    store.close();
  });

  it('merges a second batch into the same minute', () => {
    const store = new SqliteStore({ path: ':memory:', fleet, flushIntervalMs: 60_000 });
    store.write(record(1, 400));
    store.flush();
    store.write(record(2, 2000));
    store.flush();
    const counts = store.objectiveCounts('coder-fast-ttft-p95', { fromMs: T0, toMs: T0 + 60_000 });
    expect(counts).toMatchObject({ good: 1, valid: 2 });
    expect(store.series('coder-fast', { fromMs: T0, toMs: T0 + 60_000, stepMs: 60_000 })[0]?.requests).toBe(
      2,
    );
    store.close();
  });

  it('counts probes towards availability only inside the business-hours window', () => {
    const store = new SqliteStore({ path: ':memory:', fleet });
    const saturday = Date.UTC(2026, 2, 7, 18, 0, 0);
    for (const atMs of [T0, T0 + 15_000, saturday])
      store.writeProbe({
        endpoint: 'coder',
        kind: 'health',
        atMs,
        ok: atMs !== T0,
        latencyMs: 3,
        detail: '',
      });
    // The embeddings endpoint's window is `always`.
    store.writeProbe({
      endpoint: 'embeddings',
      kind: 'health',
      atMs: saturday,
      ok: true,
      latencyMs: 3,
      detail: '',
    });
    store.flush();
    const all = { fromMs: T0 - 60_000, toMs: saturday + 60_000 };
    expect(store.objectiveCounts('coder-availability', all)).toMatchObject({ good: 1, valid: 2 });
    expect(store.objectiveCounts('embeddings-availability', all)).toMatchObject({ good: 1, valid: 1 });
    // The raw timeline still shows every probe.
    const timeline = store.availability('coder', { ...all, stepMs: 24 * 3_600_000 });
    expect(timeline.reduce((n, p) => n + p.probes, 0)).toBe(3);
    expect(store.probes('coder', all)).toHaveLength(3);
    store.close();
  });

  it('keeps an open incident, calibration runs and marks across a restart', () => {
    const path = tempDb();
    const a = new SqliteStore({ path, fleet });
    a.saveIncident({ endpoint: 'coder', startedAtMs: T0, cause: 'connect_refused', recoveryMs: 300_000 });
    a.saveIncident({
      endpoint: 'embeddings',
      startedAtMs: T0 - 600_000,
      endedAtMs: T0 - 500_000,
      cause: 'timeout',
    });
    a.saveCalibrationRun({
      endpoint: 'coder',
      startedAtMs: T0 - 86_400_000,
      iterations: 200,
      summary: { ttftP95Ms: 900 },
      proposed: { ttftP95Ms: 2000 },
      fingerprint: { endpoint: 'coder', model: 'qwen3-coder', atMs: T0 - 86_400_000 },
      samples: [1, 2, 3],
    });
    a.addMark({ endpoint: 'coder', atMs: T0, note: 'enabled chunked prefill' });
    a.close();
    const b = new SqliteStore({ path, fleet });
    expect(b.openIncidents()).toEqual([
      { endpoint: 'coder', startedAtMs: T0, cause: 'connect_refused', recoveryMs: 300_000 },
    ]);
    b.saveIncident({ endpoint: 'coder', startedAtMs: T0, endedAtMs: T0 + 60_000, cause: 'connect_refused' });
    expect(b.openIncidents()).toEqual([]);
    expect(b.incidents({ fromMs: T0 - 3_600_000, toMs: T0 + 3_600_000 })).toHaveLength(2);
    expect(b.calibrationRuns('coder')[0]).toMatchObject({ iterations: 200, samples: [1, 2, 3] });
    expect(b.marks('coder')).toEqual([{ endpoint: 'coder', atMs: T0, note: 'enabled chunked prefill' }]);
    b.close();
  });

  it('flushes on its own after the batch interval', async () => {
    const store = new SqliteStore({ path: ':memory:', fleet, flushIntervalMs: 20, clock: () => T0 });
    store.write(record(1, 400));
    await new Promise((r) => setTimeout(r, 200));
    expect(store.records({ fromMs: T0, toMs: T0 + 60_000 })).toHaveLength(1);
    store.close();
  });

  it('counts availability by local business hours across the daylight-saving change', () => {
    const store = new SqliteStore({ path: ':memory:', fleet });
    // Mon 2026-03-09, the first weekday after US clocks moved forward (PDT, UTC−7):
    // 08:59 local = 15:59Z is outside, 09:00 local = 16:00Z inside, 17:59 local = 00:59Z (next day) inside.
    // Fri 2026-03-06 (PST, UTC−8): 09:00 local = 17:00Z inside, 16:30Z (08:30 local) outside.
    const probes = [
      Date.UTC(2026, 2, 9, 15, 59),
      Date.UTC(2026, 2, 9, 16, 0),
      Date.UTC(2026, 2, 10, 0, 59),
      Date.UTC(2026, 2, 10, 1, 0),
      Date.UTC(2026, 2, 6, 17, 0),
      Date.UTC(2026, 2, 6, 16, 30),
    ];
    for (const atMs of probes)
      store.writeProbe({ endpoint: 'coder', kind: 'health', atMs, ok: false, latencyMs: 1, detail: '' });
    store.flush();
    const buckets = store.sloBuckets({ fromMs: Date.UTC(2026, 2, 1), toMs: Date.UTC(2026, 2, 31) }, [
      'coder-availability',
    ]);
    expect(buckets.map((b) => new Date(b.minuteStartMs).toISOString())).toEqual([
      '2026-03-06T17:00:00.000Z',
      '2026-03-09T16:00:00.000Z',
      '2026-03-10T00:59:00.000Z',
    ]);
    store.close();
  });

  it('prunes raw rows after the raw retention but keeps the aggregates', () => {
    const store = new SqliteStore({ path: ':memory:', fleet, retention: { rawMs: 86_400_000 } });
    store.write(record(1, 400));
    store.flush();
    const removed = store.prune(T0 + 2 * 86_400_000);
    expect(removed).toBe(1);
    const range = { fromMs: T0, toMs: T0 + 60_000 };
    expect(store.records(range)).toHaveLength(0);
    expect(store.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({ good: 1, valid: 1 });
    store.close();
  });
});
