// What the dashboard's API costs with a busy history: N request records (default 300,000) spread
// over 30 days on the four running endpoints of the example fleet, plus a probe per endpoint per
// minute, in the in-process store (`createMemoryStore`, what `llm-fleet demo` uses) and the sqlite
// store (what `serve` uses). For each: the time of /api/overview and /api/endpoints/coder per window
// over real HTTP on loopback, and the JSON size — against the baseline of the same run, the same
// calls with an empty store (routing, rendering and the HTTP round trip alone). Median of 7 calls,
// each with the clock moved on 61 s so nothing is served from the verdict cache (≤ 60 s).
// The sqlite store is measured twice on the same file: with the reads before schema v4 (minute rows,
// bench/pre-v4-reads.ts) as the before figure, and as it reads now (per-hour and per-day rollups).
// Run: node bench/dashboard.ts [records]
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DashboardStore } from '../src/dashboard/index.ts';
import { createDashboard, createMemoryStore } from '../src/dashboard/index.ts';
import { loadFleet } from '../src/fleet/index.ts';
import type { RequestRecord } from '../src/measure/record.ts';
import { createHealthState } from '../src/probes/state.ts';
import type { ProbeResult } from '../src/probes/types.ts';
import { evaluateFleet } from '../src/slo/evaluate.ts';
import type { FleetStore } from '../src/store/index.ts';
import { evaluationData, openSqliteStore } from '../src/store/index.ts';
import { preV4Reads } from './pre-v4-reads.ts';

const RECORDS = Number(process.argv[2] ?? 300_000);
const DAY_MS = 86_400_000;
const NOW = Date.UTC(2026, 2, 31, 18, 0);
const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const running = fleet.endpoints.filter((e) => e.status === 'running');

let seed = 7;
const rand = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;

function* records(): Generator<RequestRecord> {
  for (let i = 0; i < RECORDS; i++) {
    const e = running[i % running.length]!;
    const ok = rand() > 0.01;
    const ttftMs = 100 + rand() * (e.slo.ttft?.p95Ms ?? 500);
    yield {
      id: `r${i}`,
      source: 'gateway',
      operation: e.kind === 'embeddings' ? 'embeddings' : 'chat',
      route: 'auto',
      endpoint: e.name,
      host: e.host,
      startedAtMs: NOW - 30 * DAY_MS + Math.floor((i / RECORDS) * 30 * DAY_MS),
      outcome: ok ? 'ok' : 'upstream_error',
      status: ok ? 200 : 502,
      stream: true,
      attempts: [],
      ttftMs,
      ...(e.kind === 'embeddings'
        ? { inputCount: 32 }
        : { decodeTokensPerSecond: 40 + rand() * 100, burstTokensPerSecond: 60 + rand() * 120 }),
      totalMs: ttftMs + 800,
    };
  }
}

function* probes(): Generator<ProbeResult> {
  for (let t = NOW - 30 * DAY_MS; t < NOW; t += 60_000)
    for (const e of running)
      yield { endpoint: e.name, kind: 'health', atMs: t, ok: rand() > 0.002, latencyMs: 3, detail: '' };
}

/** Median ms per call of what `check --since 30d` reads and judges, and of the evaluator's reads alone. */
async function storeReads(label: string, store: FleetStore): Promise<void> {
  const median = async (fn: () => Promise<unknown>): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await fn();
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[2]!;
  };
  const nowMs = NOW - 17_345;
  const check = await median(async () =>
    evaluateFleet(
      fleet,
      await evaluationData(fleet, store, {
        sinceMs: nowMs - 30 * DAY_MS,
        nowMs,
        rawRetentionMs: 14 * DAY_MS,
      }),
    ),
  );
  const coarse = await median(() =>
    store.sloBucketsCoarse({ fromMs: nowMs - 32 * DAY_MS, toMs: nowMs }, [nowMs - DAY_MS]),
  );
  const ids = fleet.endpoints.flatMap((e) => [
    `${e.name}-ttft-p95`,
    `${e.name}-ttft-p99`,
    `${e.name}-availability`,
  ]);
  const counts = await median(async () => {
    for (const id of ids) await store.objectiveCounts(id, { fromMs: nowMs - 30 * DAY_MS, toMs: nowMs + 1 });
  });
  console.log(
    `  ${label.padEnd(22)} check --since 30d ${check.toFixed(1).padStart(7)} ms · evaluator buckets 32 days ${coarse.toFixed(1).padStart(7)} ms · objectiveCounts ×${ids.length} over 30 days ${counts.toFixed(1).padStart(7)} ms`,
  );
}

async function measure(label: string, store: DashboardStore | undefined): Promise<void> {
  let now = NOW;
  const dashboard = createDashboard({
    fleet,
    health: createHealthState(fleet),
    now: () => (now += 61_000),
    ...(store ? { store } : {}),
  });
  const server = createServer((req, res) => void dashboard.handle(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rows: string[] = [];
  for (const path of ['/api/overview', '/api/endpoints/coder'])
    for (const window of ['1h', '24h', '7d', '30d']) {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}${path}?window=${window}`);
        bytes = (await res.arrayBuffer()).byteLength;
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      rows.push(
        `  ${label.padEnd(22)} ${path.padEnd(22)} ${window.padEnd(4)} ${times[3]!.toFixed(1).padStart(8)} ms  ${(bytes / 1024).toFixed(1).padStart(7)} KiB`,
      );
    }
  console.log(rows.join('\n'));
  dashboard.close();
  server.close();
}

console.log(
  `dashboard API, ${RECORDS.toLocaleString('en-US')} records over 30 days, ${running.length} endpoints (median of 7)`,
);
await measure('baseline: empty store', createMemoryStore(fleet));

const memory = createMemoryStore(fleet);
let t0 = performance.now();
for (const r of records()) memory.write(r);
for (const p of probes()) memory.writeProbe(p);
console.log(
  `  memory store: written in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${memory.bucketCount().toLocaleString('en-US')} minute aggregates`,
);
await measure('memory store', memory);

const path = join(tmpdir(), `llm-fleet-bench-dashboard-${process.pid}.db`);
const sqlite = await openSqliteStore({ path, fleet, flushIntervalMs: 60_000, clock: () => NOW });
t0 = performance.now();
let n = 0;
for (const r of records()) {
  sqlite.write(r);
  if (++n % 20_000 === 0) await sqlite.flush();
}
for (const p of probes()) sqlite.writeProbe(p);
await sqlite.flush();
console.log(`  sqlite store: written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const before = preV4Reads(sqlite, path, fleet);
await measure('sqlite, pre-v4 reads', before);
await measure('sqlite store', sqlite);
await storeReads('sqlite, pre-v4 reads', before);
await storeReads('sqlite store', sqlite);
await sqlite.close();
rmSync(path, { force: true });
for (const suffix of ['-wal', '-shm']) rmSync(path + suffix, { force: true });
