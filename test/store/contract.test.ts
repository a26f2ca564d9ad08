// The store contract: the same assertions against every FleetStore implementation — sqlite (a temp
// file) and PostgreSQL (a server this suite starts in a temp dir, a new database per test). Batching,
// rollups per hour and day, the evaluator's summed input, incidents, calibration runs, marks,
// retention, migrations from version 1, and what many replicas need: a record written twice counts
// once, two stores writing at once lose and double nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFleet } from '../../src/fleet/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import { evaluateFleet } from '../../src/slo/evaluate.ts';
import { evaluationData } from '../../src/store/evaluation-input.ts';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/schema.ts';
import type { SqlStore, SqlStoreOptions } from '../../src/store/sql-store.ts';
import { openStore } from '../../src/store/open.ts';
import type { PostgresServer } from '../support/postgres.ts';
import { postgresMissing, startPostgres } from '../support/postgres.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });

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

interface Backend {
  readonly name: string;
  /** Why it cannot run here (printed, with the install hint), if it cannot. */
  readonly missing: string | undefined;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A location for a new, empty store. */
  fresh(): Promise<string>;
  /** Runs raw SQL on a location (to rewind a database as an older llm-fleet left it). */
  exec(location: string, sql: string): Promise<void>;
}

const sqlite = ((): Backend => {
  let dir = '';
  let n = 0;
  return {
    name: 'sqlite',
    missing: undefined,
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'llm-fleet-store-'));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async fresh() {
      return join(dir, `nested-${++n}`, 'fleet.db');
    },
    async exec(location, sql) {
      const db = new DatabaseSync(location);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
  };
})();

const postgres = ((): Backend => {
  let server: PostgresServer | undefined;
  return {
    name: 'postgres',
    missing: postgresMissing(),
    async setup() {
      server = await startPostgres();
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      if (!server) throw new Error('postgres not started');
      return server.createDatabase('contract');
    },
    async exec(location, sql) {
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
  };
})();

for (const backend of [sqlite, postgres]) {
  if (backend.missing) {
    console.warn(`store contract on ${backend.name} skipped: ${backend.missing}`);
    describe(`store contract: ${backend.name}`, () => {
      it.skip(`${backend.missing} (CI installs it in .ci/run)`, () => {});
    });
    continue;
  }

  describe(`store contract: ${backend.name}`, { timeout: 60_000 }, () => {
    beforeAll(() => backend.setup(), 60_000);
    afterAll(() => backend.teardown());

    const open = async (
      location?: string,
      options: Omit<SqlStoreOptions, 'fleet'> = {},
    ): Promise<{ store: SqlStore; location: string }> => {
      const at = location ?? (await backend.fresh());
      return { store: await openStore(at, { fleet, flushIntervalMs: 60_000, ...options }), location: at };
    };

    it('migrates a new store and reopens it at the same version', async () => {
      const { store: a, location } = await open();
      expect(await a.schemaVersion()).toBe(SCHEMA_VERSION);
      await a.close();
      const { store: b } = await open(location);
      expect(await b.schemaVersion()).toBe(SCHEMA_VERSION);
      await b.close();
    });

    it('migrates a database left at version 1 and keeps its rows', async () => {
      const { store: a, location } = await open();
      a.write(record(1, 400));
      a.write(record(2, 900));
      await a.close();
      // Rewind the database to version 1 as an older llm-fleet left it: everything later migrations
      // created goes, indexes first (some are on version-1 tables); a table a later migration rebuilt
      // (created anew, then renamed to the old name) goes back to its version-1 shape.
      const later = MIGRATIONS.filter((m) => m.version > 1).flatMap((m) => m.statements);
      const rebuilt = new Map(
        later.flatMap((sql) => {
          const m = /^ALTER TABLE (\w+) RENAME TO (\w+)/.exec(sql);
          return m ? [[m[1] ?? '', m[2] ?? '']] : [];
        }),
      );
      const created = later.flatMap((sql) => {
        const m = /^CREATE (TABLE|INDEX) (\w+)/.exec(sql);
        return m && !rebuilt.has(m[2] ?? '')
          ? [{ kind: m[1] === 'INDEX' ? 'INDEX' : 'TABLE', name: m[2] ?? '' }]
          : [];
      });
      for (const kind of ['INDEX', 'TABLE'])
        for (const name of new Set(created.filter((c) => c.kind === kind).map((c) => c.name)))
          await backend.exec(location, `DROP ${kind} ${name}`);
      for (const table of rebuilt.values()) {
        await backend.exec(location, `DROP TABLE ${table}`);
        const v1 = MIGRATIONS[0]?.statements.find((sql) => sql.startsWith(`CREATE TABLE ${table} (`));
        await backend.exec(location, v1 ?? '');
      }
      for (const sql of later) {
        const m = /^ALTER TABLE (\w+) ADD COLUMN (\w+)/.exec(sql);
        if (m) await backend.exec(location, `ALTER TABLE ${m[1]} DROP COLUMN ${m[2]}`);
      }
      expect([...rebuilt.values()]).toEqual(['incidents']);
      await backend.exec(
        location,
        "INSERT INTO incidents (endpoint, started_at_ms, cause) VALUES ('coder', 7, 'connect_refused')",
      );
      expect(created.map((c) => c.name)).toEqual(
        expect.arrayContaining(['endpoint_hours', 'slo_days', 'store_batches']),
      );
      await backend.exec(location, 'DELETE FROM schema_version WHERE version > 1');
      await backend.exec(
        location,
        "INSERT INTO optimisation_marks (endpoint, at_ms, note) VALUES ('coder', 1, 'kept')",
      );
      expect(MIGRATIONS.length).toBeGreaterThan(1);
      const { store: b } = await open(location);
      expect(await b.schemaVersion()).toBe(SCHEMA_VERSION);
      expect(await b.marks()).toEqual([{ endpoint: 'coder', atMs: 1, note: 'kept' }]);
      // Incidents came through the rebuild as the endpoint's own (no replica).
      expect(await b.openIncidents()).toEqual([
        { endpoint: 'coder', startedAtMs: 7, cause: 'connect_refused' },
      ]);
      // The hour rollup was rebuilt from the stored minutes.
      expect(
        await b.series('coder-fast', { fromMs: T0, toMs: T0 + 3_600_000, stepMs: 3_600_000 }),
      ).toMatchObject([{ requests: 2 }]);
      // So were the per-hour and per-day SLO sums and the day histograms: whole days read from them.
      const day = { fromMs: Date.UTC(2026, 2, 3), toMs: Date.UTC(2026, 2, 4) };
      expect(await b.objectiveCounts('coder-fast-ttft-p95', day)).toMatchObject({ good: 1, valid: 2 });
      expect(await b.sloBucketsCoarse(day, [])).toEqual(
        expect.arrayContaining([
          {
            objectiveId: 'coder-fast-ttft-p95',
            endpoint: 'coder-fast',
            minuteStartMs: T0,
            good: 1,
            total: 2,
          },
        ]),
      );
      expect(await b.series('coder-fast', { ...day, stepMs: 86_400_000 })).toMatchObject([{ requests: 2 }]);
      await b.saveObservedFingerprint({ endpoint: 'coder', atMs: 5, model: 'a' });
      await b.saveObservedFingerprint({ endpoint: 'coder', atMs: 9, model: 'b' });
      expect(await b.observedFingerprints()).toEqual([{ endpoint: 'coder', atMs: 9, model: 'b' }]);
      await b.close();
    });

    it('batches writes until flush, then answers series, objective counts and buckets', async () => {
      const { store } = await open();
      // 100 requests in two minutes: 90 fast (400 ms), 10 slow (1200 ms > the 800 ms P95 target).
      for (let i = 0; i < 100; i++) store.write(record(i, i % 10 === 9 ? 1200 : 400));
      store.write(record(200, 0, { outcome: 'upstream_error', status: 502, ttftMs: undefined }));
      const range = { fromMs: T0, toMs: T0 + 10 * 60_000 };
      expect(await store.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({ good: 0, valid: 0 });
      await store.flush();
      const counts = await store.objectiveCounts('coder-fast-ttft-p95', range);
      expect(counts).toMatchObject({ good: 90, valid: 100 });
      // P95 lands among the slow ones (within the histogram's ±4.4% bucket).
      expect(counts?.observedValue).toBeGreaterThan(1100);
      expect(counts?.observedValue).toBeLessThan(1300);
      const series = await store.series('coder-fast', { ...range, stepMs: 60_000 });
      expect(series).toHaveLength(10);
      expect(series[0]).toMatchObject({ atMs: T0, requests: 60, errors: 0 });
      expect(series[1]?.requests).toBe(40);
      expect(series[3]).toMatchObject({ requests: 1, errors: 1, ttftP95Ms: null });
      expect(series[0]?.ttftP50Ms).toBeGreaterThan(380);
      expect(series[0]?.ttftP50Ms).toBeLessThan(420);
      const hourly = await store.series('coder-fast', { ...range, stepMs: 3_600_000 });
      expect(hourly[0]?.requests).toBe(101);
      const buckets = await store.sloBuckets(range, ['coder-fast-ttft-p95']);
      expect(buckets.map((b) => [b.minuteStartMs - T0, b.good, b.total])).toEqual([
        [0, 54, 60],
        [60_000, 36, 40],
      ]);
      const records = await store.records(range, 'coder-fast');
      expect(records).toHaveLength(101);
      expect(records[0]).toEqual(record(0, 400));
      expect(await store.lastActivityMs()).toBe(T0 + 200_000);
      await store.close();
    });

    it('answers whole hours from the hour rollup and the edges from minutes, with the same totals', async () => {
      const { store } = await open();
      // Three hours of traffic, one request every 30 s, flushed in several batches.
      for (let i = 0; i < 360; i++) {
        store.write(record(i, 200 + (i % 50) * 20, { startedAtMs: T0 + i * 30_000 }));
        if (i % 97 === 0) await store.flush();
      }
      await store.flush();
      const range = { fromMs: T0 + 17 * 60_000, toMs: T0 + 2 * 3_600_000 + 23 * 60_000 };
      const byMinute = await store.series('coder-fast', { ...range, stepMs: 60_000 });
      const byHour = await store.series('coder-fast', { ...range, stepMs: 3_600_000 });
      const sum = (points: { requests: number }[]) => points.reduce((n, p) => n + p.requests, 0);
      expect(sum(byMinute)).toBe(2 * (2 * 60 + 6));
      // Hour steps start at the hour: two whole hours from the rollup plus 23 minutes from minute rows.
      expect(byHour).toHaveLength(3);
      expect(sum(byHour)).toBe(
        sum(await store.series('coder-fast', { fromMs: T0, toMs: range.toMs, stepMs: 60_000 })),
      );
      const counts = await store.objectiveCounts('coder-fast-ttft-p95', range);
      expect(counts?.valid).toBe(sum(byMinute));
      await store.close();
    });

    it('sums the evaluator input between its edges exactly as the minute buckets add up', async () => {
      const { store } = await open();
      // Two days of one request every 10 minutes, some slow.
      for (let i = 0; i < 288; i++)
        store.write(record(i, i % 7 === 0 ? 1500 : 300, { startedAtMs: T0 - 86_400_000 + i * 600_000 }));
      await store.flush();
      const range = { fromMs: T0 - 2 * 86_400_000, toMs: T0 + 86_400_000 };
      const cuts = [T0 - 86_400_000 + 7 * 60_000, T0 - 3_600_000, T0 + 3_600_000 + 30_000];
      const coarse = await store.sloBucketsCoarse(range, cuts);
      const fine = await store.sloBuckets(range);
      const edges = [range.fromMs, ...cuts.map((c) => Math.ceil(c / 60_000) * 60_000), range.toMs];
      for (let i = 0; i + 1 < edges.length; i++) {
        const [a, b] = [edges[i] as number, edges[i + 1] as number];
        const pick = (list: typeof fine) =>
          list
            .filter(
              (x) => x.objectiveId === 'coder-fast-ttft-p95' && x.minuteStartMs >= a && x.minuteStartMs < b,
            )
            .reduce((s, x) => ({ good: s.good + x.good, total: s.total + x.total }), { good: 0, total: 0 });
        expect(pick(coarse)).toEqual(pick(fine));
      }
      // Fewer rows than minutes: the whole day in between is one row per objective.
      expect(coarse.length).toBeLessThan(fine.length);
      await store.close();
    });

    it('gives the evaluator the same verdict from its summed input as from every minute bucket', async () => {
      const { store } = await open();
      // 12 days of traffic and probes every 7 minutes, slow requests and failed probes mixed in,
      // written in many batches so the hour and day rollups are updated in place.
      const nowMs = Date.UTC(2026, 3, 14, 18, 30, 30); // mid-April, 11:30:30 in Los Angeles
      let seed = 7;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      let n = 0;
      for (let t = nowMs - 12 * 86_400_000; t < nowMs; t += 7 * 60_000) {
        const outage = t > nowMs - 2 * 3_600_000;
        const ttftMs = outage || rand() < 0.1 ? 5000 : 300;
        store.write(
          record(n, ttftMs, { id: `e${t}`, startedAtMs: t, decodeTokensPerSecond: 50 + rand() * 100 }),
        );
        store.writeProbe({
          endpoint: 'coder-fast',
          kind: 'health',
          atMs: t,
          ok: !outage && rand() > 0.02,
          latencyMs: 1,
          detail: '',
        });
        if (++n % 400 === 0) await store.flush();
      }
      await store.flush();
      for (const sinceMs of [
        nowMs - 3_600_000,
        nowMs - 86_400_000 - 5_000,
        nowMs - 9 * 86_400_000 - 17 * 60_000,
      ]) {
        const data = await evaluationData(fleet, store, { sinceMs, nowMs });
        const full = await store.sloBuckets({
          fromMs: Math.min(sinceMs, nowMs - 32 * 86_400_000),
          toMs: nowMs + 60_000,
        });
        expect(data.buckets.length).toBeLessThan(full.length / 4);
        const verdict = evaluateFleet(fleet, data);
        expect(verdict).toEqual(evaluateFleet(fleet, { ...data, buckets: full }));
        // Not an empty verdict: the outage burns coder-fast's TTFT budget.
        const ttft = verdict.endpoints
          .find((e) => e.endpoint === 'coder-fast')
          ?.objectives.find((o) => o.objective.kind === 'ttft-p95');
        expect(ttft?.measured.total).toBeGreaterThan(5);
        expect(ttft?.burn?.firing).not.toBe('none');
      }
      await store.close();
    });

    it('merges a second batch into the same minute', async () => {
      const { store } = await open();
      store.write(record(1, 400));
      await store.flush();
      store.write(record(2, 2000));
      await store.flush();
      const counts = await store.objectiveCounts('coder-fast-ttft-p95', { fromMs: T0, toMs: T0 + 60_000 });
      expect(counts).toMatchObject({ good: 1, valid: 2 });
      expect(
        (await store.series('coder-fast', { fromMs: T0, toMs: T0 + 60_000, stepMs: 60_000 }))[0]?.requests,
      ).toBe(2);
      await store.close();
    });

    it('stores and counts a record written twice once (its id is the key)', async () => {
      const { store } = await open();
      store.write(record(1, 400));
      store.write(record(1, 400));
      await store.flush();
      store.write(record(1, 400));
      store.write(record(2, 2000));
      await store.flush();
      const range = { fromMs: T0, toMs: T0 + 60_000 };
      expect(await store.records(range)).toHaveLength(2);
      expect(await store.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({ good: 1, valid: 2 });
      expect((await store.series('coder-fast', { ...range, stepMs: 60_000 }))[0]?.requests).toBe(2);
      const day = { fromMs: Date.UTC(2026, 2, 3), toMs: Date.UTC(2026, 2, 4) };
      expect(await store.objectiveCounts('coder-fast-ttft-p95', day)).toMatchObject({ good: 1, valid: 2 });
      await store.close();
    });

    it('two replicas writing one store at once: every record once, exact totals', async () => {
      const { store: a, location } = await open();
      const { store: b } = await open(location);
      // Interleaved batches into the same minutes from both; some records reach both replicas.
      const flushes: Promise<void>[] = [];
      for (let i = 0; i < 400; i++) {
        (i % 2 === 0 ? a : b).write(
          record(i, i % 4 === 0 ? 1500 : 300, { startedAtMs: T0 + (i % 120) * 1000 }),
        );
        if (i % 50 === 0)
          (i % 100 === 0 ? b : a).write(
            record(i, i % 4 === 0 ? 1500 : 300, { startedAtMs: T0 + (i % 120) * 1000 }),
          );
        if (i % 37 === 0) flushes.push(a.flush(), b.flush());
      }
      flushes.push(a.flush(), b.flush());
      await Promise.all(flushes);
      const range = { fromMs: T0, toMs: T0 + 3_600_000 };
      for (const s of [a, b]) {
        expect(await s.records(range, undefined, 10_000)).toHaveLength(400);
        expect(await s.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({
          good: 300,
          valid: 400,
        });
        const minutes = await s.series('coder-fast', { ...range, stepMs: 60_000 });
        expect(minutes.reduce((n, p) => n + p.requests, 0)).toBe(400);
        expect((await s.series('coder-fast', { ...range, stepMs: 3_600_000 }))[0]?.requests).toBe(400);
      }
      await a.close();
      await b.close();
    });

    it('counts probes towards availability only inside the business-hours window', async () => {
      const { store } = await open();
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
      await store.flush();
      const all = { fromMs: T0 - 60_000, toMs: saturday + 60_000 };
      expect(await store.objectiveCounts('coder-availability', all)).toMatchObject({ good: 1, valid: 2 });
      expect(await store.objectiveCounts('embeddings-availability', all)).toMatchObject({
        good: 1,
        valid: 1,
      });
      // The raw timeline still shows every probe.
      const timeline = await store.availability('coder', { ...all, stepMs: 24 * 3_600_000 });
      expect(timeline.reduce((n, p) => n + p.probes, 0)).toBe(3);
      const probes = await store.probes('coder', all);
      expect(probes).toHaveLength(3);
      expect(probes[0]).toEqual({
        endpoint: 'coder',
        kind: 'health',
        atMs: saturday,
        ok: true,
        latencyMs: 3,
        detail: '',
      });
      await store.close();
    });

    it("keeps a replica's incident apart from its endpoint's, and the replica that served a record", async () => {
      const { store } = await open();
      // The same start: one replica failed first probe in the round the pool's last one did.
      await store.saveIncident({
        endpoint: 'coder-fast',
        replica: '1',
        startedAtMs: T0,
        cause: 'connect_refused',
      });
      await store.saveIncident({
        endpoint: 'coder-fast',
        startedAtMs: T0,
        cause: 'timeout',
        recoveryMs: 300_000,
      });
      await store.saveIncident({
        endpoint: 'coder-fast',
        replica: '1',
        startedAtMs: T0,
        endedAtMs: T0 + 60_000,
        cause: 'connect_refused',
      });
      expect(await store.openIncidents()).toEqual([
        { endpoint: 'coder-fast', startedAtMs: T0, cause: 'timeout', recoveryMs: 300_000 },
      ]);
      expect(await store.incidents({ fromMs: T0 - 60_000, toMs: T0 + 120_000 }, 'coder-fast')).toEqual([
        { endpoint: 'coder-fast', startedAtMs: T0, cause: 'timeout', recoveryMs: 300_000 },
        {
          endpoint: 'coder-fast',
          replica: '1',
          startedAtMs: T0,
          endedAtMs: T0 + 60_000,
          cause: 'connect_refused',
        },
      ]);
      store.write({ ...record(1, 400), replica: '1' });
      store.write(record(2, 400));
      await store.flush();
      const records = await store.records({ fromMs: T0 - 60_000, toMs: T0 + 600_000 });
      expect(records.map((r) => r.replica)).toEqual(['1', undefined]);
      await store.close();
    });

    it('merges the reports of one outage from several replicas into one incident; a later outage is its own', async () => {
      const { store } = await open();
      // A saw it first (its traffic), B a probe round later; A saw the end first, B later.
      await store.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0,
        cause: 'connect_refused',
        recoveryMs: 300_000,
      });
      await store.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0 + 15_000,
        cause: 'timeout',
        recoveryMs: 300_000,
      });
      expect(await store.openIncidents()).toEqual([
        { endpoint: 'coder', startedAtMs: T0, cause: 'connect_refused', recoveryMs: 300_000 },
      ]);
      await store.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0,
        endedAtMs: T0 + 60_000,
        cause: 'connect_refused',
      });
      await store.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0 + 15_000,
        endedAtMs: T0 + 75_000,
        cause: 'timeout',
      });
      // B's open report arriving after both closes does not reopen it.
      await store.saveIncident({ endpoint: 'coder', startedAtMs: T0 + 15_000, cause: 'timeout' });
      await store.saveIncident({ endpoint: 'coder', startedAtMs: T0 + 600_000, cause: 'timeout' });
      expect(await store.incidents({ fromMs: T0 - 60_000, toMs: T0 + 3_600_000 }, 'coder')).toEqual([
        {
          endpoint: 'coder',
          startedAtMs: T0,
          endedAtMs: T0 + 75_000,
          cause: 'connect_refused',
          recoveryMs: 300_000,
        },
        { endpoint: 'coder', startedAtMs: T0 + 600_000, cause: 'timeout' },
      ]);
      await store.close();
    });

    it('keeps an open incident, calibration runs and marks across a restart', async () => {
      const { store: a, location } = await open();
      await a.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0,
        cause: 'connect_refused',
        recoveryMs: 300_000,
      });
      await a.saveIncident({
        endpoint: 'embeddings',
        startedAtMs: T0 - 600_000,
        endedAtMs: T0 - 500_000,
        cause: 'timeout',
      });
      const saved = await a.saveCalibrationRun({
        endpoint: 'coder',
        startedAtMs: T0 - 86_400_000,
        iterations: 200,
        summary: { ttftP95Ms: 900 },
        proposed: { ttftP95Ms: 2000 },
        fingerprint: { endpoint: 'coder', model: 'qwen3-coder', atMs: T0 - 86_400_000 },
        samples: [1, 2, 3],
      });
      await a.addMark({ endpoint: 'coder', atMs: T0, note: 'enabled chunked prefill' });
      await a.close();
      const { store: b } = await open(location);
      expect(await b.openIncidents()).toEqual([
        { endpoint: 'coder', startedAtMs: T0, cause: 'connect_refused', recoveryMs: 300_000 },
      ]);
      await b.saveIncident({
        endpoint: 'coder',
        startedAtMs: T0,
        endedAtMs: T0 + 60_000,
        cause: 'connect_refused',
      });
      expect(await b.openIncidents()).toEqual([]);
      expect(await b.incidents({ fromMs: T0 - 3_600_000, toMs: T0 + 3_600_000 })).toHaveLength(2);
      expect(await b.incidents({ fromMs: T0 - 3_600_000, toMs: T0 + 3_600_000 }, 'embeddings')).toHaveLength(
        1,
      );
      const [run] = await b.calibrationRuns('coder');
      expect(run).toMatchObject({ id: saved.id, iterations: 200, samples: [1, 2, 3] });
      expect(await b.calibrationRuns('embeddings')).toEqual([]);
      expect(await b.marks('coder')).toEqual([
        { endpoint: 'coder', atMs: T0, note: 'enabled chunked prefill' },
      ]);
      await b.close();
    });

    it('flushes on its own after the batch interval', async () => {
      const { store } = await open(undefined, { flushIntervalMs: 20, clock: () => T0 });
      store.write(record(1, 400));
      const deadline = Date.now() + 5_000;
      while ((await store.records({ fromMs: T0, toMs: T0 + 60_000 })).length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(await store.records({ fromMs: T0, toMs: T0 + 60_000 })).toHaveLength(1);
      await store.close();
    });

    it('counts availability by local business hours across the daylight-saving change', async () => {
      const { store } = await open();
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
      await store.flush();
      const buckets = await store.sloBuckets({ fromMs: Date.UTC(2026, 2, 1), toMs: Date.UTC(2026, 2, 31) }, [
        'coder-availability',
      ]);
      expect(buckets.map((b) => new Date(b.minuteStartMs).toISOString())).toEqual([
        '2026-03-06T17:00:00.000Z',
        '2026-03-09T16:00:00.000Z',
        '2026-03-10T00:59:00.000Z',
      ]);
      await store.close();
    });

    it('prunes raw rows after the raw retention but keeps the aggregates', async () => {
      const { store } = await open(undefined, { retention: { rawMs: 86_400_000 } });
      store.write(record(1, 400));
      await store.flush();
      const removed = await store.prune(T0 + 2 * 86_400_000);
      expect(removed).toBe(1);
      const range = { fromMs: T0, toMs: T0 + 60_000 };
      expect(await store.records(range)).toHaveLength(0);
      expect(await store.objectiveCounts('coder-fast-ttft-p95', range)).toMatchObject({ good: 1, valid: 1 });
      await store.close();
    });
  });
}
