// `llm-fleet monitor` and `llm-fleet export` as a user runs them, against simulated endpoints.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../cli/run-cli.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SimExample } from './sim-fleet.ts';
import { startSimExample } from './sim-fleet.ts';

let sim: SimExample;
let dir: string;
const env: NodeJS.ProcessEnv = { LLM_FLEET_LOOPBACK_ONLY: '1' };
const FLEET = ['-f', 'examples/onex.fleet.yaml'];

beforeAll(async () => {
  sim = await startSimExample();
  for (const e of sim.fleet.endpoints) if (e.url) env[e.env] = e.url;
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-monitor-cli-'));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[]) => runCli(args, env);

describe('llm-fleet monitor', () => {
  it('--once probes health and a real request of each kind, and exits 0 when all are up', async () => {
    const store = join(dir, 'once.db');
    const r = await run(['monitor', ...FLEET, '--store', store, '--once']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/embeddings\s+│ request │ ok\s+│ [\d.]+ ms\s+│ embedding of dimension \d+/);
    expect(r.out).toMatch(/deepseek-r1\s+│ request │ ok\s+│ [\d.]+ ms\s+│ answered/);
    expect(r.out).toMatch(/deepseek-r1\s+│ health\s+│ ok\s+│ [\d.]+ ms\s+│ status ok/);
  });

  it('--once exits 1 when an endpoint is down', async () => {
    await sim.setFaults('coder-fast', [{ kind: 'down' }], false);
    try {
      const r = await run(['monitor', ...FLEET, '--store', join(dir, 'down.db'), '--once', '--json']);
      expect(r.code).toBe(1);
      const lines = r.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toContainEqual(
        expect.objectContaining({ endpoint: 'coder-fast', ok: false, cause: 'connect_refused' }),
      );
    } finally {
      await sim.setFaults('coder-fast', [], true);
    }
  });

  it('runs on an interval for --duration, prints state changes as JSON lines and fills the store', async () => {
    const path = join(dir, 'run.db');
    const r = await run([
      'monitor',
      ...FLEET,
      '--store',
      path,
      '--interval',
      '100ms',
      '--duration',
      '1500ms',
      '--json',
      '--metrics-port',
      '0',
    ]);
    expect(r.code).toBe(0);
    const events = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; endpoint?: string; to?: string; url?: string });
    expect(events[0]).toMatchObject({ event: 'metrics' });
    expect(
      events
        .filter((e) => e.event === 'state' && e.to === 'up')
        .map((e) => e.endpoint)
        .sort(),
    ).toEqual(['coder', 'coder-fast', 'deepseek-r1', 'embeddings']);
    const store = await openSqliteStore({ path, fleet: sim.fleet });
    try {
      expect((await store.probes('coder', { fromMs: 0, toMs: Date.now() + 1000 })).length).toBeGreaterThan(2);
    } finally {
      await store.close();
    }
  });
});

describe('llm-fleet export', () => {
  it('writes Prometheus rules over the metrics the monitor exposes', async () => {
    const out = join(dir, 'rules', 'llm-fleet.rules.yml');
    const r = await run(['export', 'prometheus', ...FLEET, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`wrote prometheus to ${out}`);
    const text = readFileSync(out, 'utf8');
    const rules = parse(text) as { groups: { rules: { expr: string }[] }[] };
    expect(rules.groups.length).toBeGreaterThan(3);
    for (const metric of ['llm_slo_events_total', 'llm_fleet_endpoint_down_seconds', 'llm_fleet_endpoint_up'])
      expect(text).toContain(metric);
  });

  it('prints OpenSLO documents and a Grafana dashboard', async () => {
    const openslo = await run(['export', 'openslo', ...FLEET]);
    expect(openslo.out).toContain('apiVersion: openslo/v1');
    const grafana = await run(['export', 'grafana', ...FLEET]);
    expect(JSON.parse(grafana.out)).toHaveProperty('panels');
  });
});
