// How much a crash loses: a child process writes one record every 5 ms through the store's batched
// writer (flush every 1 s, the default) and is killed with SIGKILL mid-run; the parent reopens the
// file and reports how many records were lost and how many milliseconds of writes that was.
// Run: node bench/store-crash.ts [runs]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleet } from '../src/fleet/index.ts';
import { DEFAULT_FLUSH_INTERVAL_MS, openSqliteStore } from '../src/store/sqlite-store.ts';

const RUNS = Number(process.argv[2] ?? 5);
const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const child = `
import { loadFleet } from './src/fleet/index.ts';
import { openSqliteStore } from './src/store/sqlite-store.ts';
const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const store = await openSqliteStore({ path: process.argv[1], fleet });
let i = 0;
setInterval(() => {
  const now = Date.now();
  store.write({ id: 'r' + i, source: 'bench', operation: 'chat', route: 'auto', endpoint: 'coder', startedAtMs: now,
    outcome: 'ok', status: 200, stream: true, attempts: [], ttftMs: 100, totalMs: 200 });
  process.stdout.write(i + ' ' + now + '\\n');
  i++;
}, 5);
`;

const losses: { lost: number; lostMs: number; written: number }[] = [];
for (let run = 0; run < RUNS; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-crash-'));
  const path = join(dir, 'fleet.db');
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const writes = new Map<number, number>();
  let buffered = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const [i, at] = line.split(' ').map(Number);
      writes.set(i as number, at as number);
    }
  });
  // Once writing has begun, kill at a point unrelated to the flush phase: 1.5–3 s in.
  while (writes.size === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 1500 + Math.random() * 1500));
  const killedAt = Date.now();
  proc.kill('SIGKILL');
  await new Promise((r) => proc.once('exit', r));
  const store = await openSqliteStore({ path, fleet });
  const kept = new Set(
    (await store.records({ fromMs: 0, toMs: killedAt + 1000 })).map((r) => Number(r.id.slice(1))),
  );
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const lostIds = [...writes.keys()].filter((i) => !kept.has(i));
  const oldestLost = Math.min(...lostIds.map((i) => writes.get(i) as number));
  losses.push({
    lost: lostIds.length,
    lostMs: lostIds.length ? killedAt - oldestLost : 0,
    written: writes.size,
  });
}
console.log(
  `store crash bench: ${RUNS} runs, SIGKILL while writing every 5 ms, flush interval ${DEFAULT_FLUSH_INTERVAL_MS} ms`,
);
for (const [i, l] of losses.entries())
  console.log(`  run ${i + 1}: ${l.written} written, ${l.lost} lost = the last ${l.lostMs} ms of writes`);
console.log(
  `  worst: ${Math.max(...losses.map((l) => l.lostMs))} ms (bound: the flush interval plus one flush)`,
);
