// Health per replica, from the client's side: the example fleet's fast coder as a pool of two
// simulated vLLM servers behind the gateway, with the monitor probing each server (a virtual clock,
// one minute a round, rounds driven by the test) and a sqlite store in a temp dir. One replica
// going down leaves the endpoint up but degraded, opens an incident on that replica only, keeps
// requests off it at once (one attempt each, no refused connection first), and charges nothing to
// the endpoint's availability or recovery; only the whole pool down is the endpoint's outage.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet, type Fleet } from '../../src/fleet/index.ts';
import { buildGateway, type Gateway } from '../../src/gateway/index.ts';
import { checkHealth } from '../../src/probes/health.ts';
import { createHealthStateFromStore, startMonitor, type Monitor } from '../../src/probes/monitor.ts';
import type { SimServer } from '../../src/sim/endpoint.ts';
import { startSimFleet, type SimFleet } from '../../src/sim/fleet.ts';
import { evaluationData } from '../../src/store/evaluation-input.ts';
import { evaluateFleet } from '../../src/slo/evaluate.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { runCli } from '../cli/run-cli.ts';
import { postJson, TEST_TIMEOUTS } from './harness.ts';

const TEXT = readFileSync('examples/onex.fleet.yaml', 'utf8').replace(
  '    port: 8001\n',
  '    port: 8001\n    replicas: [http://192.168.86.202:8001]\n    affinity: false\n',
);
const MINUTE = 60_000;
// Tue 2026-03-03 10:00 in Los Angeles (business hours: the availability objective's window).
const T0 = Date.UTC(2026, 2, 3, 18, 0, 0);

interface Rig {
  url: string;
  /** What `serve` would be started with: the fleet file and the variables that point it at the sims. */
  fleetFile: string;
  env: NodeJS.ProcessEnv;
  fleet: Fleet;
  pool: SimServer[];
  monitor: Monitor;
  store: SqlStore;
  /** One probe round, then a minute passes. */
  round(): Promise<void>;
  now(): number;
}

let sim: SimFleet | undefined;
let gateway: Gateway | undefined;
let monitor: Monitor | undefined;
let store: SqlStore | undefined;
let dir: string | undefined;
afterEach(async () => {
  await monitor?.stop();
  await gateway?.close();
  await store?.close();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  sim = gateway = monitor = store = dir = undefined;
});

async function start(): Promise<Rig> {
  const template = parseFleet(TEXT, 'pool.fleet.yaml', { env: {} });
  sim = await startSimFleet(template, { only: ['coder', 'coder-fast'], latencyScale: 0.1, seed: 5 });
  const loaded = parseFleet(TEXT, 'pool.fleet.yaml', { env: sim.env });
  const fleet: Fleet = {
    ...loaded,
    endpoints: loaded.endpoints.map((e) => ({ ...e, timeouts: TEST_TIMEOUTS })),
  };
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-replica-health-'));
  store = await openSqliteStore({ path: join(dir, 'fleet.db'), fleet });
  let now = T0;
  const clock = (): number => now;
  const health = await createHealthStateFromStore(fleet, store, { clock });
  monitor = await startMonitor(fleet, {
    store,
    state: health,
    clock,
    autoStart: false,
    requestProbeEvery: 0,
    fingerprintEvery: 0,
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
  });
  gateway = buildGateway(fleet, {
    health,
    sink: store,
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxWaitMs: 3_000 },
  });
  const url = await gateway.listen(0, '127.0.0.1');
  const m = monitor;
  const fleetFile = join(dir, 'pool.fleet.yaml');
  writeFileSync(fleetFile, TEXT);
  return {
    url,
    fleetFile,
    env: { ...sim.env },
    fleet,
    pool: [...(sim.replicas.get('coder-fast') ?? [])],
    monitor: m,
    store,
    async round() {
      await m.tick();
      now += MINUTE;
    },
    now: clock,
  };
}

/** Puts one simulated server down (or back) and waits until its health check shows it. */
async function setDown(fleet: Fleet, server: SimServer | undefined, down: boolean): Promise<void> {
  const e = fleet.endpoints.find((x) => x.name === 'coder-fast');
  if (!server || !e) throw new Error('no coder-fast pool');
  server.setFaults(down ? [{ kind: 'down' }] : []);
  for (let i = 0; i < 200; i++) {
    if ((await checkHealth({ ...e, url: server.url }, { timeoutMs: 2_000 })).ok !== down) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`replica at ${server.url} did not go ${down ? 'down' : 'up'}`);
}

interface PoolHealth {
  name: string;
  state: string;
  degraded?: boolean;
  replicas?: Array<{ id: string; state: string }>;
}

async function fleetHealth(url: string): Promise<PoolHealth | undefined> {
  const body = (await (await fetch(`${url}/fleet/health`)).json()) as { endpoints: PoolHealth[] };
  return body.endpoints.find((e) => e.name === 'coder-fast');
}

const ask = (url: string, content: string) =>
  postJson(url, '/v1/chat/completions', {
    model: 'classification',
    messages: [{ role: 'user', content }],
    max_tokens: 20,
  });

/** The pool's incidents (the example fleet's other endpoints are not simulated here: refused by the loopback guard). */
const pool = <T extends { endpoint: string }>(list: readonly T[]): T[] =>
  list.filter((i) => i.endpoint === 'coder-fast');

const served = (s: SimServer | undefined): number =>
  s?.groundTruth().filter((t) => t.path.includes('/completions')).length ?? 0;

describe('health per replica of a pool (two simulated vLLM servers of coder-fast, monitor probing each)', () => {
  it('one replica down: endpoint up and degraded, an incident on that replica only, traffic on the other at once', async () => {
    const rig = await start();
    await rig.round();
    await rig.round();
    expect(await fleetHealth(rig.url)).toMatchObject({
      state: 'up',
      degraded: false,
      replicas: [
        { id: '0', state: 'up' },
        { id: '1', state: 'up' },
      ],
    });

    await setDown(rig.fleet, rig.pool[1], true);
    const downAt = rig.now();
    await rig.round();
    await rig.round();
    await rig.round();
    expect(rig.monitor.state.state('coder-fast')).toBe('up');
    expect(await fleetHealth(rig.url)).toMatchObject({
      state: 'up',
      degraded: true,
      replicas: [
        { id: '0', state: 'up' },
        { id: '1', state: 'down' },
      ],
    });

    // The router skips the replica the probes found down: every request is one attempt on replica 0
    // (without per-replica health its breaker is still closed, so the first ones would try replica 1).
    const before = served(rig.pool[0]);
    for (let i = 0; i < 6; i++) {
      const a = await ask(rig.url, `after replica 1 went down ${i}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
      expect(a.headers.get('x-llm-fleet-replica')).toBe('0');
      expect(a.headers.get('x-llm-fleet-attempts')).toBe('1');
    }
    expect(served(rig.pool[0]) - before).toBe(6);

    // The incident is the replica's, dated at its first failed probe; the endpoint has none.
    await rig.store.flush();
    const range = { fromMs: T0 - MINUTE, toMs: rig.now() + MINUTE };
    expect(pool(await rig.store.incidents(range))).toEqual([
      { endpoint: 'coder-fast', replica: '1', startedAtMs: downAt, cause: 'connect_refused' },
    ]);
    // Every stored request record names the replica that served it.
    const records = await rig.store.records({ fromMs: 0, toMs: Date.now() + MINUTE }, 'coder-fast');
    expect(records.map((r) => r.replica)).toEqual(Array(6).fill('0'));

    // Availability counts the pool's verdict (up while one replica answers): every probe was good.
    const availability = await rig.store.availability('coder-fast', {
      ...range,
      stepMs: range.toMs - range.fromMs,
    });
    expect(availability.reduce((n, p) => n + p.probes, 0)).toBe(5);
    expect(availability.reduce((n, p) => n + p.ok, 0)).toBe(5);

    // Back up: the replica's incident closes at its first good probe; still nothing on the endpoint.
    await setDown(rig.fleet, rig.pool[1], false);
    const backAt = rig.now();
    await rig.round();
    await rig.round();
    expect(await fleetHealth(rig.url)).toMatchObject({ state: 'up', degraded: false });
    expect(pool(rig.monitor.state.incidents())).toEqual([
      {
        endpoint: 'coder-fast',
        replica: '1',
        startedAtMs: downAt,
        endedAtMs: backAt,
        cause: 'connect_refused',
      },
    ]);
  });

  it('the whole pool down is the endpoint down, with its own incident from when the last replica failed', async () => {
    const rig = await start();
    await rig.round();
    await setDown(rig.fleet, rig.pool[0], true);
    const firstDownAt = rig.now();
    await rig.round();
    await rig.round();
    expect(rig.monitor.state.state('coder-fast')).toBe('up');
    await setDown(rig.fleet, rig.pool[1], true);
    const lastDownAt = rig.now();
    await rig.round();
    await rig.round();
    expect(rig.monitor.state.state('coder-fast')).toBe('down');
    expect(await fleetHealth(rig.url)).toMatchObject({ state: 'down', degraded: false });
    const incidents = pool(rig.monitor.state.incidents());
    expect(incidents).toEqual([
      { endpoint: 'coder-fast', replica: '0', startedAtMs: firstDownAt, cause: 'connect_refused' },
      { endpoint: 'coder-fast', replica: '1', startedAtMs: lastDownAt, cause: 'connect_refused' },
      { endpoint: 'coder-fast', startedAtMs: lastDownAt, cause: 'connect_refused' },
    ]);
    // The endpoint's recovery objective judges its own incident only (one, open), not the replicas'.
    await rig.store.flush();
    const data = await evaluationData(rig.fleet, rig.store, { sinceMs: T0 - MINUTE, nowMs: rig.now() });
    const verdict = evaluateFleet(rig.fleet, data);
    const recovery = verdict.endpoints
      .find((e) => e.endpoint === 'coder-fast')
      ?.objectives.find((o) => o.objective.kind === 'recovery');
    expect(recovery?.recovery).toMatchObject({ count: 1, open: 1 });
  });

  it('`llm-fleet check` breaks a pool down per replica: the slow server breaches its TTFT target, the other does not', async () => {
    const rig = await start();
    // Replica 1 answers every first token 1.2 s late (coder-fast's TTFT P95 target is 800 ms).
    rig.pool[1]?.setFaults([{ kind: 'slow-first-token', delayMs: 1_200 }]);
    const direct = (i: number) =>
      postJson(rig.url, '/v1/chat/completions', {
        model: 'coder-fast',
        messages: [{ role: 'user', content: `question ${i}` }],
        max_tokens: 8,
      });
    const answers: Awaited<ReturnType<typeof direct>>[] = [];
    // Batches of eight spread by load over both servers (ties at random), until each served 20.
    for (let batch = 0; batch < 12; batch++) {
      answers.push(...(await Promise.all(Array.from({ length: 8 }, (_, i) => direct(batch * 8 + i)))));
      const byReplica = (id: string) =>
        answers.filter((a) => a.headers.get('x-llm-fleet-replica') === id).length;
      if (byReplica('0') >= 20 && byReplica('1') >= 20) break;
    }
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const count = (id: string) => answers.filter((a) => a.headers.get('x-llm-fleet-replica') === id).length;
    expect(Math.min(count('0'), count('1'))).toBeGreaterThanOrEqual(20);
    await rig.store.flush();

    const args = ['check', '-f', rig.fleetFile, '--store', join(dir as string, 'fleet.db'), '--since', '1h'];
    const json = await runCli([...args, '--json'], rig.env);
    const parsed = JSON.parse(json.out) as {
      endpoints: { endpoint: string; objectives: { objective: { id: string } }[] }[];
      replicas: {
        endpoint: string;
        replica: string;
        requests: number;
        objectives: {
          objective: { id: string };
          verdict: string;
          measured: { good: number; total: number };
        }[];
      }[];
    };
    // The endpoint stays the headline; the breakdown judges each server on its own requests.
    expect(parsed.endpoints.find((e) => e.endpoint === 'coder-fast')?.objectives.length).toBeGreaterThan(0);
    const ttft = (id: string) =>
      parsed.replicas
        .find((r) => r.endpoint === 'coder-fast' && r.replica === id)
        ?.objectives.find((o) => o.objective.id === 'coder-fast-ttft-p95');
    expect(parsed.replicas.map((r) => [r.replica, r.requests])).toEqual([
      ['0', count('0')],
      ['1', count('1')],
    ]);
    expect(ttft('1')).toMatchObject({ verdict: 'breach', measured: { good: 0, total: count('1') } });
    expect(ttft('0')).toMatchObject({ verdict: 'ok', measured: { total: count('0') } });
    const text = await runCli(args, rig.env);
    expect(text.out).toContain('Per replica');
    expect(text.out).toMatch(/coder-fast#1\s.*BREACH/);
    // The regenerated SLO document carries the same breakdown under the endpoint's rows.
    const report = await runCli(
      ['report', '-f', rig.fleetFile, '--store', join(dir as string, 'fleet.db'), '--since', '1h'],
      rig.env,
    );
    expect(report.out).toContain('### Per replica');
    expect(report.out).toMatch(
      new RegExp(`\\| \`LLM_CODER_FAST_URL\` \\| 1 \\| ${count('1')} \\| TTFT P95[^\\n]*\\*\\*BREACH\\*\\*`),
    );
  });
});
