// Measures the sqlite store the way the gateway and check use it: the cost of `write` on the request
// path (a queue push), the batched flush per record, and the queries `check`, `report` and the
// dashboard run over 30 days of history — with JSON.stringify of the same records as the baseline
// of the same run (the flush cannot be cheaper than serialising each record once).
// With --postgres the same run repeats on a PostgreSQL store (a server started in a temp dir, loopback).
// Run: node bench/store.ts [records] [--postgres]   (default 200000 records over 30 days, 4 endpoints)
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleet } from '../src/fleet/index.ts';
import type { RequestRecord } from '../src/measure/record.ts';
import { evaluateFleet } from '../src/slo/evaluate.ts';
import { evaluationData } from '../src/store/evaluation-input.ts';
import { openPostgresStore } from '../src/store/postgres-store.ts';
import type { SqlStore } from '../src/store/sql-store.ts';
import { openSqliteStore } from '../src/store/sqlite-store.ts';
import { postgresMissing, startPostgres } from '../test/support/postgres.ts';

const args = process.argv.slice(2);
const WITH_POSTGRES = args.includes('--postgres');
const N = Number(args.find((a) => !a.startsWith('--')) ?? 200_000);
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 2, 31, 18, 0);
const ENDPOINTS = ['coder', 'coder-fast', 'embeddings', 'deepseek-r1'];
const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-bench-store-'));
const path = join(dir, 'fleet.db');

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}
const r = rand(42);
const records: RequestRecord[] = Array.from({ length: N }, (_, i) => {
  const endpoint = ENDPOINTS[i % ENDPOINTS.length] as string;
  const ttftMs = 100 + r() * 2500;
  return {
    id: `bench-${i}`,
    source: 'gateway',
    operation: endpoint === 'embeddings' ? 'embeddings' : 'chat',
    route: 'auto',
    endpoint,
    startedAtMs: NOW - 30 * DAY + Math.floor((i / N) * 30 * DAY),
    outcome: r() < 0.01 ? 'upstream_error' : 'ok',
    status: 200,
    stream: true,
    attempts: [{ endpoint, startedAtMs: 0, durationMs: ttftMs, status: 200 }],
    promptTokens: 512,
    completionTokens: 256,
    ttftMs,
    decodeTokensPerSecond: 40 + r() * 80,
    burstTokensPerSecond: 80 + r() * 100,
    ...(endpoint === 'embeddings' ? { inputCount: 32 } : {}),
    totalMs: ttftMs + 3000,
  };
});

const time = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
};
const timeAsync = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
};

const [, stringifyMs] = time(() => {
  let n = 0;
  for (const rec of records) n += JSON.stringify(rec).length;
  return n;
});

const BATCH = 5_000; // ≈ one second of traffic at 5k req/s: what one timer flush would write

/** Writes the history in batches, then one live batch, then times the reads check and the dashboard run. */
async function measure(store: SqlStore): Promise<Record<string, number | string>> {
  let writeMs = 0;
  let flushMs = 0;
  let worstFlushMs = 0;
  for (let i = 0; i < N; i += BATCH) {
    const batch = records.slice(i, i + BATCH);
    const [, w] = time(() => {
      for (const rec of batch) store.write(rec);
    });
    const [, f] = await timeAsync(() => store.flush());
    writeMs += w;
    flushMs += f;
    worstFlushMs = Math.max(worstFlushMs, f);
  }
  // Steady state: what one timer flush writes at a busy moment — BATCH records within one second.
  const live = records
    .slice(0, BATCH)
    .map((rec, i) => ({ ...rec, id: `live-${i}`, startedAtMs: NOW - 1000 + (i % 1000) }));
  const [, liveWriteMs] = time(() => {
    for (const rec of live) store.write(rec);
  });
  const [, liveFlushMs] = await timeAsync(() => store.flush());
  const range = { fromMs: NOW - 30 * DAY, toMs: NOW };
  const [, seriesHourMs] = await timeAsync(() => store.series('coder', { ...range, stepMs: 3_600_000 }));
  const [, seriesMinuteDayMs] = await timeAsync(() =>
    store.series('coder', { fromMs: NOW - DAY, toMs: NOW, stepMs: 60_000 }),
  );
  const [, countsMs] = await timeAsync(() => store.objectiveCounts('coder-ttft-p95', range));
  const [data, dataMs] = await timeAsync(() =>
    evaluationData(fleet, store, { sinceMs: NOW - 7 * DAY, nowMs: NOW, rawRetentionMs: 14 * DAY }),
  );
  const [, evaluateMs] = time(() => evaluateFleet(fleet, data));
  await store.close();
  return {
    writeMs,
    flushMs,
    worstFlushMs,
    liveWriteMs,
    liveFlushMs,
    seriesHourMs,
    seriesMinuteDayMs,
    countsMs,
    dataMs,
    buckets: data.buckets.length,
    samples: data.samples ? 'exact samples' : 'histograms',
    evaluateMs,
  };
}

const results: [string, Record<string, number | string>][] = [];
results.push([
  'sqlite',
  await measure(await openSqliteStore({ path, fleet, flushIntervalMs: 3_600_000, clock: () => NOW })),
]);
const sizeMb = (statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0)) / 1e6;
if (WITH_POSTGRES) {
  const missing = postgresMissing();
  if (missing) console.log(`postgres skipped: ${missing}`);
  else {
    const server = await startPostgres();
    try {
      const url = await server.createDatabase('bench');
      results.push([
        'postgres (loopback)',
        await measure(await openPostgresStore({ url, fleet, flushIntervalMs: 3_600_000, clock: () => NOW })),
      ]);
    } finally {
      await server.stop();
    }
  }
}
rmSync(dir, { recursive: true, force: true });

const us = (ms: number, n: number) => `${((ms * 1000) / n).toFixed(2)} µs`;
console.log(`store bench: ${N} records over 30 days, ${ENDPOINTS.length} endpoints, batches of ${BATCH}`);
console.log(`  baseline JSON.stringify per record        ${us(stringifyMs, N)}`);
for (const [label, f] of results) {
  const n = (k: string): number => f[k] as number;
  console.log(`${label}:`);
  console.log(`  write() on the request path per record    ${us(n('writeMs'), N)}`);
  console.log(
    `  flush per record (batched, one txn)       ${us(n('flushMs'), N)}   (${(n('flushMs') / stringifyMs).toFixed(1)}× the baseline)`,
  );
  console.log(`  worst history batch (${BATCH} records, ~18 h)  ${n('worstFlushMs').toFixed(1)} ms`);
  console.log(
    `  live batch: ${BATCH} records in one second  write ${us(n('liveWriteMs'), BATCH)}/record, flush ${n('liveFlushMs').toFixed(1)} ms (${us(n('liveFlushMs'), BATCH)}/record)`,
  );
  console.log(`  series 30 days by hour (720 points)       ${n('seriesHourMs').toFixed(1)} ms`);
  console.log(`  series 24 h by minute (1440 points)       ${n('seriesMinuteDayMs').toFixed(1)} ms`);
  console.log(`  objectiveCounts 30 days (with P95)        ${n('countsMs').toFixed(1)} ms`);
  console.log(
    `  check's evaluation input, 7 days          ${n('dataMs').toFixed(1)} ms (${f.buckets} buckets, ${f.samples})`,
  );
  console.log(`  evaluateFleet over it                     ${n('evaluateMs').toFixed(1)} ms`);
}
console.log(`  sqlite database size                      ${sizeMb.toFixed(1)} MB`);
