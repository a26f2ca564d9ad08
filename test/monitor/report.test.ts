// After a short demo run — real requests through the gateway to simulated endpoints, the monitor
// probing them, everything in the store — `llm-fleet report` reads like the seed with numbers.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.ts';
import { buildGateway } from '../../src/gateway/index.ts';
import { startMonitor } from '../../src/probes/monitor.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import { record } from '../../src/slo/test-data.ts';
import { guardedConnector } from '../../src/upstream/guard.ts';
import type { SimExample } from './sim-fleet.ts';
import { startSimExample } from './sim-fleet.ts';

let sim: SimExample;
let dir: string;
let storePath: string;
const env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  sim = await startSimExample();
  for (const e of sim.fleet.endpoints) if (e.url) env[e.env] = e.url;
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-report-'));
  storePath = join(dir, 'fleet.db');
  const store = await openSqliteStore({ path: storePath, fleet: sim.fleet });
  const monitor = await startMonitor(sim.fleet, { store, autoStart: false, requestProbeEvery: 1 });
  const gateway = buildGateway(sim.fleet, { sink: store, health: monitor.state });
  const base = await gateway.listen(0, '127.0.0.1');
  const client = new Agent({ connect: guardedConnector() });
  try {
    await monitor.tick();
    const ask = async (body: object, path = '/v1/chat/completions', task?: string) => {
      const r = await request(`${base}${path}`, {
        method: 'POST',
        dispatcher: client,
        headers: { 'content-type': 'application/json', ...(task ? { 'x-llm-task': task } : {}) },
        body: JSON.stringify(body),
      });
      await r.body.text();
      return r.statusCode;
    };
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push(
        await ask({
          model: 'code',
          messages: [{ role: 'user', content: `write a function ${i}` }],
          max_tokens: 24,
          stream: i % 2 === 0,
        }),
      );
      statuses.push(
        await ask(
          { model: 'embeddings', input: Array.from({ length: 32 }, (_, k) => `text ${i}.${k}`) },
          '/v1/embeddings',
        ),
      );
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(20);
    await monitor.tick();
  } finally {
    await gateway.close();
    await client.close();
    await monitor.stop();
    await store.close();
  }
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[]) => runCli(args, env);

describe('llm-fleet report after a demo run', () => {
  it('regenerates the seed document with measured values beside the targets', async () => {
    const r = await run(['report', '-f', 'examples/onex.fleet.yaml', '--store', storePath, '--since', '1h']);
    expect(r.code).toBe(0);
    // The seed's sections, in the seed's words.
    for (const heading of [
      'Endpoint Inventory',
      'Health Check',
      'Calibration Methodology',
      'Recalibration Triggers',
    ])
      expect(r.out).toContain(heading);
    // Current URLs (the loopback simulators), not the seed's LAN addresses, in the health commands.
    expect(r.out).toContain(`curl -s ${sim.sims.get('coder')?.url}/health`);
    // Measured numbers: requests were counted for the code route and the embeddings endpoint.
    expect(r.out).toMatch(
      /\| `LLM_CODER_FAST_URL` \(port \d+\) \| 40K tokens \| 800ms \| 1500ms \| \d+ms \(\d+(\.\d+)?% ≤ target, n=12\)/,
    );
    expect(r.out).toMatch(/\| `LLM_CODER_URL` \| 99% \(business hours\) \| 5 minutes \| (100%|no data)/);
    expect(r.out).not.toMatch(/Last Updated:?\**:? no measurements yet/);
  });

  it('renders HTML and JSON from the same data', async () => {
    const html = await run([
      'report',
      '-f',
      'examples/onex.fleet.yaml',
      '--store',
      storePath,
      '--format',
      'html',
    ]);
    expect(html.out).toMatch(/^<!doctype html>/i);
    const json = await run([
      'report',
      '-f',
      'examples/onex.fleet.yaml',
      '--store',
      storePath,
      '--format',
      'json',
    ]);
    const data = JSON.parse(json.out);
    const coderFast = data.verdict.endpoints.find((e: { endpoint: string }) => e.endpoint === 'coder-fast');
    const embeddings = data.verdict.endpoints.find((e: { endpoint: string }) => e.endpoint === 'embeddings');
    const total = (e: { objectives: { objective: { kind: string }; measured: { total: number } }[] }) =>
      e.objectives.find((o) => o.objective.kind === 'ttft-p95')?.measured.total ?? 0;
    expect(total(coderFast) + total(embeddings)).toBeGreaterThan(10);
  });

  it('--out says how many bytes it wrote, counted as bytes (the document is full of → and ≤)', async () => {
    const out = join(dir, 'report.md');
    const r = await run(['report', '-f', 'examples/onex.fleet.yaml', '--store', storePath, '--out', out]);
    const printed = Number(/\((\d+) bytes\)/.exec(r.err)?.[1]);
    expect(printed).toBe(statSync(out).size);
    expect(readFileSync(out, 'utf8').length).toBeLessThan(printed);
  });

  it('notes a simulated fleet only when the records came from the demo', async () => {
    const real = await run([
      'report',
      '-f',
      'examples/onex.fleet.yaml',
      '--store',
      storePath,
      '--since',
      '1h',
    ]);
    expect(real.out).not.toContain('Simulated fleet');
    const demoPath = join(dir, 'demo.db');
    const demo = await openSqliteStore({ path: demoPath, fleet: sim.fleet });
    demo.write(
      record({ endpoint: 'coder-fast', startedAtMs: Date.now() - 60_000, ttftMs: 200, simulated: true }),
    );
    await demo.close();
    const r = await run(['report', '-f', 'examples/onex.fleet.yaml', '--store', demoPath, '--since', '1h']);
    expect(r.out).toContain(
      "**Simulated fleet**: the measured values below come from llm-fleet's simulators",
    );
  });

  it('without a store it renders the targets and says so', async () => {
    const r = await run(['report', '-f', 'examples/onex.fleet.yaml', '--store', join(dir, 'none.db')]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('no store at');
    expect(r.out).toContain('Endpoint Inventory');
  });
});
