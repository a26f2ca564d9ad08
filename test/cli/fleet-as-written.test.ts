// The fleet file as operators write it: one address serving several models (`models:`), and an
// endpoint without targets (`slo` omitted) that is measured and never judged — by validate,
// check, report, export and the dashboard alike. Fleet-file mistakes keep file:line and a hint.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/dashboard/index.ts';
import { Views } from '../../src/dashboard/views.ts';
import { FleetValidationError, loadFleet, parseFleet } from '../../src/fleet/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import { createHealthState } from '../../src/probes/state.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { runCli } from './run-cli.ts';

// A scratch mlx_lm box: no targets, two models at one address.
const SCRATCH = `
  scratch:
    env: LLM_SCRATCH_URL
    host: mac-studio
    port: 8102
    model: Qwen2.5-Coder-7B-Instruct-4bit
    servedModel: mlx-community/Qwen2.5-Coder-7B-Instruct-4bit
    models: [mlx-community/Qwen3-4B-4bit]
    dialect: mlx
    fallbacks: [coder-fast]
`;
const example = readFileSync('examples/onex.fleet.yaml', 'utf8');
const withScratch = example.replace(
  '\n# Request Routing Decision Matrix',
  `${SCRATCH}\n# Request Routing Decision Matrix`,
);
const NOW = Date.UTC(2026, 2, 3, 19, 0, 0);
const MINUTE = 60_000;

let dir: string;
let fleetPath: string;
let storePath: string;

function slow(i: number): RequestRecord {
  // Far slower than any target in the fleet, and half of them failed: nothing to judge it by.
  return {
    id: `scratch-${i}`,
    source: 'gateway',
    operation: 'chat',
    route: 'scratch',
    endpoint: 'scratch',
    startedAtMs: NOW - 50 * MINUTE + i * 10_000,
    outcome: i % 2 === 0 ? 'ok' : 'upstream_error',
    status: i % 2 === 0 ? 200 : 502,
    stream: true,
    attempts: [],
    ttftMs: 45_000,
    decodeTokensPerSecond: 3,
    totalMs: 60_000,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-as-written-'));
  fleetPath = join(dir, 'fleet.yaml');
  storePath = join(dir, 'fleet.db');
  writeFileSync(fleetPath, withScratch);
  const fleet = loadFleet(fleetPath, { env: {} });
  const store = await openSqliteStore({ path: storePath, fleet });
  for (let i = 0; i < 40; i++) store.write(slow(i));
  for (let m = 0; m < 60; m += 1)
    store.writeProbe({
      endpoint: 'scratch',
      kind: 'health',
      atMs: NOW - m * MINUTE,
      ok: m % 2 === 0,
      latencyMs: 2,
      detail: '',
    });
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an endpoint without slo', () => {
  it('loads as measured-not-judged, with the 60 s default TTFT deadline', () => {
    const scratch = loadFleet(fleetPath, { env: {} }).endpoints.find((e) => e.name === 'scratch')!;
    expect(scratch.judged).toBe(false);
    expect(scratch.slo.ttft).toBeUndefined();
    expect(scratch.slo.availability.bestEffort).toBe(true);
    expect(scratch.timeouts.ttftTimeoutMs).toBe(60_000);
    expect(scratch.servedModels).toEqual([
      'mlx-community/Qwen2.5-Coder-7B-Instruct-4bit',
      'mlx-community/Qwen3-4B-4bit',
    ]);
  });

  it('validate says so instead of TBD', async () => {
    const r = await runCli(['validate', '-f', fleetPath]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/scratch\s+│ no slo: measured, never judged/);
  });

  it('check measures it and never judges it: no breach for 45 s TTFTs and half the probes down', async () => {
    const r = await runCli([
      'check',
      '-f',
      fleetPath,
      '--store',
      storePath,
      '--at',
      new Date(NOW).toISOString(),
      '--json',
    ]);
    const verdict = JSON.parse(r.out) as {
      endpoints: {
        endpoint: string;
        judged: boolean;
        objectives: { verdict: string; reason: string; objective: { description: string } }[];
      }[];
    };
    const scratch = verdict.endpoints.find((e) => e.endpoint === 'scratch')!;
    expect(scratch.judged).toBe(false);
    expect(scratch.objectives.map((o) => o.verdict)).toEqual(['best-effort']);
    expect(scratch.objectives[0]!.reason).toMatch(/50(\.0)?% measured, not judged/);
    expect(scratch.objectives[0]!.objective.description).toMatch(/no targets \(slo omitted\)/);
    const text = await runCli([
      'check',
      '-f',
      fleetPath,
      '--store',
      storePath,
      '--at',
      new Date(NOW).toISOString(),
    ]);
    expect(text.out).not.toMatch(/BREACH: .*scratch/);
  });

  it('report and export leave it unjudged: no target cells, no alerting rules', async () => {
    const report = await runCli([
      'report',
      '-f',
      fleetPath,
      '--store',
      storePath,
      '--at',
      new Date(NOW).toISOString(),
    ]);
    expect(report.code).toBe(0);
    expect(report.out).toMatch(/`LLM_SCRATCH_URL` \(port 8102\)[^\n]*not judged/);
    for (const format of ['prometheus', 'openslo', 'grafana']) {
      const r = await runCli(['export', format, '-f', fleetPath]);
      expect(r.code, format).toBe(0);
      expect(r.out, format).not.toMatch(/scratch-(ttft|availability|recovery|throughput)/);
    }
  });

  it('the dashboard shows it with its measurements and no objective to fail', async () => {
    const fleet = loadFleet(fleetPath, { env: { LLM_SCRATCH_URL: 'http://127.0.0.1:9' } });
    const store = createMemoryStore(fleet);
    for (let i = 0; i < 10; i++) store.write(slow(i));
    const views = new Views({
      fleet,
      store,
      health: createHealthState(fleet, { clock: () => NOW }),
      now: () => NOW,
    });
    const detail = await views.endpoint('scratch', '1h');
    expect(detail?.card.requests).toBe(10);
    expect(detail?.card.objectives.map((o) => o.verdict)).toEqual(['best-effort']);
    expect(detail?.targets).toEqual({});
  });
});

describe('one address, several models', () => {
  it('two endpoints on one address: duplicate_address at file:line with a hint to list models', () => {
    const twice = example.replace(
      '\n# Request Routing Decision Matrix',
      `${SCRATCH}${SCRATCH.replace('scratch:', 'scratch-qwen3:').replace('LLM_SCRATCH_URL', 'LLM_SCRATCH_QWEN3_URL')}\n# Request Routing Decision Matrix`,
    );
    let issues: readonly { code: string; line?: number; hint?: string }[] = [];
    try {
      parseFleet(twice, 'two.fleet.yaml', { env: {} });
    } catch (e) {
      if (e instanceof FleetValidationError) issues = e.issues;
      else throw e;
    }
    const dup = issues.find((i) => i.code === 'duplicate_address');
    expect(dup?.line).toBeGreaterThan(0);
    expect(twice.split('\n')[(dup?.line ?? 1) - 1]).toMatch(/port: 8102/);
    expect(dup?.hint).toMatch(/list the extra model ids under 'scratch' as models: \[\.\.\.\]/);
  });

  it('a models entry of the wrong shape is reported at its line, with a hint', () => {
    const bad = withScratch.replace(
      'models: [mlx-community/Qwen3-4B-4bit]',
      'models: mlx-community/Qwen3-4B-4bit',
    );
    let issues: readonly { code: string; line?: number; message: string; field?: string; hint?: string }[] =
      [];
    try {
      parseFleet(bad, 'bad.fleet.yaml', { env: {} });
    } catch (e) {
      if (e instanceof FleetValidationError) issues = e.issues;
      else throw e;
    }
    const issue = issues.find((i) => i.field === 'endpoints.scratch.models');
    expect(issue?.hint).toBe("write 'models' as a list, e.g. [a, b] or one '- item' per line");
    expect(bad.split('\n')[(issue?.line ?? 1) - 1]).toMatch(/models:/);
  });
});
