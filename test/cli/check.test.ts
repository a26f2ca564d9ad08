// `llm-fleet check` and `mark` over a store filled the way the gateway, monitor and calibrate fill it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import { hardwareDescription } from '../../src/slo/fingerprint.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';

const FLEET = ['-f', 'examples/onex.fleet.yaml'];
// Tue 2026-03-03 11:00 in Los Angeles: business hours.
const NOW = Date.UTC(2026, 2, 3, 19, 0, 0);
const AT = ['--at', new Date(NOW).toISOString()];
const MINUTE = 60_000;

let dir: string;
let storePath: string;

function record(endpoint: string, i: number, ttftMs: number): RequestRecord {
  return {
    id: `${endpoint}-${i}`,
    source: 'gateway',
    operation: endpoint === 'embeddings' ? 'embeddings' : 'chat',
    route: 'auto',
    endpoint,
    startedAtMs: NOW - 50 * MINUTE + i * 10_000,
    outcome: 'ok',
    status: 200,
    stream: true,
    attempts: [],
    ttftMs,
    decodeTokensPerSecond: 100,
    burstTokensPerSecond: 200,
    ...(endpoint === 'embeddings' ? { inputCount: 32 } : {}),
    totalMs: ttftMs + 1000,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-check-'));
  storePath = join(dir, 'fleet.db');
  const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
  const store = await openSqliteStore({ path: storePath, fleet });
  // coder-fast: 200 requests in the last hour, 1 in 5 over its 800 ms P95 target.
  for (let i = 0; i < 200; i++) store.write(record('coder-fast', i, i % 5 === 0 ? 1200 : 300));
  // coder: well within its targets.
  for (let i = 0; i < 50; i++) store.write(record('coder', i, 500));
  // embeddings: 30 batches of 32, each 40 ms long but overlapping, so each added 4 ms of busy time:
  // 960 inputs in 120 ms = 8000/s aggregate, though every batch alone reads 800/s.
  for (let i = 0; i < 30; i++) store.write({ ...record('embeddings', i, 40), busyMs: 4 });
  // Every routable endpoint answered every probe of the last hour.
  for (const endpoint of ['coder', 'coder-fast', 'embeddings', 'deepseek-r1'])
    for (let m = 0; m < 60; m += 1)
      store.writeProbe({
        endpoint,
        kind: 'health',
        atMs: NOW - m * MINUTE,
        ok: true,
        latencyMs: 2,
        detail: '',
      });
  // coder was calibrated on other hardware and another model build than it reports now.
  const coder = fleet.endpoints.find((e) => e.name === 'coder')!;
  await store.saveCalibrationRun({
    endpoint: 'coder',
    startedAtMs: NOW - 10 * 24 * 60 * MINUTE,
    iterations: 200,
    summary: { ttftP95Ms: 900 },
    proposed: { ttftP95Ms: 2000 },
    fingerprint: {
      endpoint: 'coder',
      atMs: NOW - 10 * 24 * 60 * MINUTE,
      model: 'qwen3-coder-30b-awq',
      serverVersion: 'vllm 0.10.2',
      hostHardware: 'Linux GPU server; RTX 4090',
    },
  });
  await store.saveObservedFingerprint({
    endpoint: 'coder',
    atMs: NOW - 30 * MINUTE,
    model: 'qwen3-coder-30b-awq',
    serverVersion: 'vllm 0.11.0',
    hostHardware: hardwareDescription(fleet, coder),
  });
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) => runCli(args);

describe('llm-fleet check', () => {
  it('exits 1 on a breach and shows target, measured and budget for each objective', async () => {
    const r = await run(['check', ...FLEET, '--store', storePath, ...AT, '--since', '24h']);
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /coder-fast\s+│ TTFT P95 ≤ 800 ms\s+│ P95 \d+ ms · 160\/200 good \(80%\)\s+│ spent\s+│ BREACH/,
    );
    expect(r.out).toMatch(
      /coder\s+│ TTFT P95 ≤ 2000 ms\s+│ P95 \d+ ms · 50\/50 good \(100%\)\s+│ 100%\s+│ ok/,
    );
    expect(r.out).toMatch(/coder\s+│ availability ≥ 99% \(business-hours\)\s+│ 60\/60 good \(100%\)/);
    expect(r.out).toContain('small       │ planned: not routable, not judged');
    expect(r.out).toContain('BREACH: coder-fast ttft-p95');
  });

  it('judges embeddings/s as inputs over busy time, with the alert windows in place of a budget', async () => {
    const r = await run(['check', ...FLEET, '--store', storePath, ...AT, '--since', '24h']);
    expect(r.out).toMatch(
      /embeddings\s+│ ≥ 5000 embeddings\/s \(aggregate: inputs per busy second\)\s+│ 8000\/s · 960 inputs \/ 0\.12 s busy\s+│ —\s+│ ok/,
    );
    const verdict = JSON.parse((await run(['check', ...FLEET, '--store', storePath, ...AT, '--json'])).out);
    const rate = verdict.endpoints
      .flatMap((e: { objectives: { objective: { id: string } }[] }) => e.objectives)
      .find((o: { objective: { id: string } }) => o.objective.id === 'embeddings-embeddings-rate');
    expect(rate.aggregate).toMatchObject({ units: 960, busyMs: 120, ratePerSecond: 8000, firing: false });
  });

  it('surfaces sustained violations, a changed fingerprint and changed hardware with their evidence', async () => {
    const r = await run(['check', ...FLEET, '--store', storePath, ...AT, '--since', '24h']);
    expect(r.out).toMatch(
      /coder-fast: sustained-violations — 40 of 200 requests \(20%\) over the P95 target 800 ms/,
    );
    expect(r.out).toMatch(/coder: fingerprint-changed — .*serverVersion "vllm 0\.10\.2" → "vllm 0\.11\.0"/);
    expect(r.out).toMatch(/coder: hardware-changed — .*RTX 4090/);
    expect(r.out).not.toContain('optimisation-work');
  });

  it('raises the optimisation-work trigger after `llm-fleet mark`', async () => {
    const m = await run(['mark', 'embeddings', ...FLEET, '--store', storePath, '--note', 'batch 64', ...AT]);
    expect(m.code).toBe(0);
    expect(m.out).toContain('marked embeddings');
    const r = await run(['check', ...FLEET, '--store', storePath, ...AT, '--json']);
    const verdict = JSON.parse(r.out);
    const embeddings = verdict.endpoints.find((e: { endpoint: string }) => e.endpoint === 'embeddings');
    expect(embeddings.triggers).toMatchObject([{ kind: 'optimisation-work', mark: { note: 'batch 64' } }]);
    const list = await run(['mark', '--list', ...FLEET, '--store', storePath]);
    expect(list.out).toMatch(/embeddings\s+│ 2026-03-03T19:00:00.000Z │ batch 64/);
  });

  it('under --env ci performance is judged and shown but never fails', async () => {
    const r = await run(['check', ...FLEET, '--env', 'ci', '--store', storePath, ...AT, '--since', '24h']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/coder-fast\s+│ TTFT P95 ≤ 800 ms.*over \(ci: not failing\)/);
    expect(r.out).toContain('no breach');
  });

  it('refuses a missing store and an unknown endpoint to mark with exit 2 and a hint', async () => {
    const missing = await run(['check', ...FLEET, '--store', join(dir, 'nope.db')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('[store_missing]');
    const unknown = await run(['mark', 'nope', ...FLEET, '--store', storePath, '--note', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no endpoint named nope.*\n\s+hint: one of: coder, coder-fast/);
  });
});
