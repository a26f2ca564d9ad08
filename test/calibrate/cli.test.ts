// The calibrate and bench commands end to end against simulators: defaults from the fleet file,
// --json, --write round trip, output files, exit codes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BenchRun } from '../../src/calibrate/bench.ts';
import type { CalibrationRun } from '../../src/calibrate/index.ts';
import { runCli } from '../cli/run-cli.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { observeFingerprint } from '../../src/probes/fingerprint.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SimFleet } from '../../src/sim/index.ts';
import { EXAMPLE_TEXT, isInference, simFleet } from './helpers.ts';

let sims: SimFleet | undefined;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-cal-'));
});
afterEach(async () => {
  await sims?.close();
  sims = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: Record<string, string>) =>
  runCli(args, { LLM_FLEET_LOOPBACK_ONLY: '1', ...env });

describe('llm-fleet calibrate', () => {
  it("runs the fleet file's 50 warm-up + 200 measured iterations by default and prints every sample with --json", async () => {
    sims = await simFleet(['coder']);
    const r = await run(
      [
        'calibrate',
        'coder',
        '-f',
        'examples/onex.fleet.yaml',
        '--prompt-tokens',
        '16',
        '--max-tokens',
        '2',
        '--network-overhead',
        '0',
        '--json',
        '--no-store',
      ],
      sims.env,
    );
    expect(r.err).not.toMatch(/FAILED/);
    const out = JSON.parse(r.out) as CalibrationRun;
    expect(out.settings).toMatchObject({ warmupIterations: 50, iterations: 200 });
    const e = out.endpoints[0];
    expect(e?.samples.filter((s) => s.phase === 'warmup')).toHaveLength(50);
    expect(e?.samples.filter((s) => s.phase === 'measured')).toHaveLength(200);
    expect(e?.metrics?.ttftMs.count).toBe(200);
    expect(sims.endpoints.get('coder')?.groundTruth().filter(isInference)).toHaveLength(250);
    expect(out.percentileMethod).toMatch(/linear interpolation/);
    expect(out.definitions.ttft).toMatch(/first SSE event carrying a content or reasoning token/);
    expect(e?.networkOverhead).toEqual({ valueMs: 0, source: 'flag' });
    expect(r.code).toBe(0);
  });

  it('--write updates the targets in place after showing the diff; comments stay and the file validates', async () => {
    sims = await simFleet(['coder']);
    const file = join(dir, 'fleet.yaml');
    writeFileSync(file, EXAMPLE_TEXT);
    const r = await run(
      [
        'calibrate',
        'coder',
        '-f',
        file,
        '--warmup',
        '2',
        '--iterations',
        '15',
        '--prompt-tokens',
        '64',
        '--max-tokens',
        '16',
        '--network-overhead',
        'fleet',
        '--json',
        '--write',
        '--no-store',
      ],
      sims.env,
    );
    const out = JSON.parse(r.out) as CalibrationRun;
    const p = out.endpoints[0]?.proposal;
    expect(out.endpoints[0]?.networkOverhead).toEqual({ valueMs: 25, source: 'fleet' });
    // (P95 + 25 ms) × 2 rounded to 100 ms can never be below 100 ms.
    expect(p?.ttftP95Ms?.value).toBeGreaterThanOrEqual(100);
    expect(r.err).toMatch(/--write: .*fleet\.yaml\n- \d+: +ttft: \{ p95: 2000ms, p99: 4000ms \}\n/);
    const after = readFileSync(file, 'utf8');
    for (const line of EXAMPLE_TEXT.split('\n').filter((l) => l.trimStart().startsWith('#')))
      expect(after).toContain(line);
    expect(after).toContain(`ttft: { p95: ${p?.ttftP95Ms?.value}ms, p99: ${p?.ttftP99Ms?.value}ms }`);
    const fleet = loadFleet(file, { env: {} });
    const coder = fleet.endpoints.find((e) => e.name === 'coder');
    expect(coder?.slo.ttft).toEqual({ p95Ms: p?.ttftP95Ms?.value, p99Ms: p?.ttftP99Ms?.value });
    expect(coder?.slo.throughput.sustainedTokensPerSecond).toBe(p?.sustainedTokensPerSecond?.value);
    expect(coder?.slo.throughput.burstTokensPerSecond).toBe(p?.burstTokensPerSecond?.value);
    // Nothing else changed: the same number of lines, and the other endpoints' targets as they were.
    expect(after.split('\n').length).toBe(EXAMPLE_TEXT.split('\n').length);
    expect(fleet.endpoints.find((e) => e.name === 'coder-fast')?.slo.ttft).toEqual({
      p95Ms: 800,
      p99Ms: 1500,
    });
  });

  it('prints the summary table and saves the run with --out', async () => {
    sims = await simFleet(['coder']);
    const r = await run(
      [
        'calibrate',
        'coder',
        '-f',
        'examples/onex.fleet.yaml',
        '--warmup',
        '1',
        '--iterations',
        '10',
        '--max-tokens',
        '8',
        '--prompt-tokens',
        '64',
        '--out',
        dir,
        '--note',
        'VRAM 21/32 GB',
        '--store',
        join(dir, 'fleet.db'),
      ],
      sims.env,
    );
    expect(r.out).toMatch(/endpoint\s+│ metric\s+│ P50\s+│ P95\s+│ P99\s+│ current\s+│ proposed\s+│ verdict/);
    expect(r.out).toMatch(/coder\s+│ TTFT ms/);
    expect(r.out).toMatch(/percentiles: linear interpolation/);
    expect(r.out).toMatch(/network overhead [\d.]+ ms \(measured: TCP connect median of 10/);
    expect(r.out).toMatch(/version 0\.11\.0/);
    expect(r.out).toContain('note: VRAM 21/32 GB');
    const saved = /saved (.*\.json)/.exec(r.err)?.[1] as string;
    const run2 = JSON.parse(readFileSync(saved, 'utf8')) as CalibrationRun;
    expect(run2.endpoints[0]?.fingerprint).toMatchObject({ serverVersion: '0.11.0', note: 'VRAM 21/32 GB' });
    expect(run2.endpoints[0]?.fingerprint?.before).toBeDefined();
    // Recorded in the store with the fingerprint exactly as the monitor would observe it now.
    expect(r.err).toContain('recorded 1 calibration run(s) in the store');
    const store = await openSqliteStore({ path: join(dir, 'fleet.db'), fleet: sims.fleet });
    try {
      const [stored] = await store.calibrationRuns('coder');
      expect(stored).toMatchObject({
        endpoint: 'coder',
        iterations: 10,
        warmupIterations: 1,
        note: 'VRAM 21/32 GB',
      });
      expect(stored?.proposed.ttftP95Ms).toBe(run2.endpoints[0]?.proposal?.ttftP95Ms?.value);
      const coder = sims.fleet.endpoints.find((e) => e.name === 'coder');
      const observed = await observeFingerprint(sims.fleet, coder as NonNullable<typeof coder>, {
        timeoutMs: 5_000,
      });
      const { atMs: _a, ...calibrated } = stored?.fingerprint ?? { atMs: 0 };
      const { atMs: _b, ...now } = observed;
      expect(calibrated).toEqual(now);
      expect(now).toMatchObject({ serverVersion: 'vllm 0.11.0', model: coder?.servedModel });
    } finally {
      await store.close();
    }
  });

  it('a user mistake is exit 2 with a hint, no stack trace', async () => {
    const r = await run(['calibrate', 'nope', '-f', 'examples/onex.fleet.yaml'], {});
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown endpoint nope \[unknown_endpoint\]\n {2}hint: known: coder/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('llm-fleet bench', () => {
  it('a sweep writes JSON, CSV and an offline HTML report', async () => {
    sims = await simFleet(['coder']);
    const csv = join(dir, 'b.csv');
    const html = join(dir, 'b.html');
    const r = await run(
      [
        'bench',
        '-f',
        'examples/onex.fleet.yaml',
        '--endpoint',
        'coder',
        '--sweep',
        '4',
        '-n',
        '8',
        '--warmup',
        '1',
        '--max-tokens',
        '8',
        '--prompt-tokens',
        '64',
        '--json',
        '--csv',
        csv,
        '--html',
        html,
      ],
      sims.env,
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as BenchRun;
    expect(out.steps.map((s) => s.concurrency)).toEqual([1, 2, 4]);
    expect(out.steps.every((s) => s.completed === 8 && s.errors === 0)).toBe(true);
    expect(out.steps[0]?.goodput.share).toBe(1);
    // --json carries every request: its record and the generator's timing.
    expect(out.steps[2]?.samples).toHaveLength(8);
    expect(out.steps[2]?.samples[0]?.record).toMatchObject({
      source: 'bench',
      endpoint: 'coder',
      outcome: 'ok',
      stream: true,
    });
    // 1 warm-up + 3 steps × 8 requests reached the server.
    expect(sims.endpoints.get('coder')?.groundTruth().filter(isInference)).toHaveLength(25);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^step,mode,concurrency,rate_per_s,.*ttft_p99_ms.*goodput_share/);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('uPlot');
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
  });

  it('open loop reports the generator lag per request', async () => {
    sims = await simFleet(['coder']);
    const r = await run(
      [
        'bench',
        '-f',
        'examples/onex.fleet.yaml',
        '--endpoint',
        'coder',
        '--rate',
        '40',
        '-n',
        '20',
        '--max-tokens',
        '8',
        '--prompt-tokens',
        '64',
        '--json',
      ],
      sims.env,
    );
    const out = JSON.parse(r.out) as BenchRun;
    expect(out.plan).toEqual({ mode: 'open', ratePerSecond: 40, burstiness: 1, seed: 1 });
    expect(out.steps[0]?.lagMs?.count).toBe(20);
    expect(out.steps[0]?.lagMs?.min).toBeGreaterThanOrEqual(0);
  });

  it('--fail-on-slo exits 1 when the endpoint misses its TTFT target', async () => {
    sims = await simFleet(['coder-fast']);
    // coder-fast: TTFT P95 ≤ 800 ms; every request here waits 900 ms more for its first token.
    sims.endpoints.get('coder-fast')?.setFaults([{ kind: 'slow-first-token', delayMs: 900 }]);
    const r = await run(
      [
        'bench',
        '-f',
        'examples/onex.fleet.yaml',
        '--endpoint',
        'coder-fast',
        '-c',
        '2',
        '-n',
        '2',
        '--warmup',
        '0',
        '--max-tokens',
        '4',
        '--prompt-tokens',
        '32',
        '--fail-on-slo',
      ],
      sims.env,
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/MISSED/);
    expect(r.out).toMatch(/coder-fast.*TTFT P95 ≤ 800 ms: 0\.0% good \(needs 95%\)/s);
    expect(r.err).toMatch(/SLO missed \(--fail-on-slo\)/);
  });

  it('usage errors are exit 2', async () => {
    expect((await run(['bench', '-f', 'examples/onex.fleet.yaml'], {})).code).toBe(2);
    expect(
      (
        await run(
          ['bench', '-f', 'examples/onex.fleet.yaml', '--endpoint', 'coder', '-c', '2', '--rate', '3'],
          {},
        )
      ).code,
    ).toBe(2);
  });
});
