// Replica pools from the client's side: the example fleet's fast coder run as two simulated vLLM
// servers (each with its own engine and prefix cache), the pool handed to the gateway the way
// `sim --fleet` hands it to `serve` (LLM_CODER_FAST_URL=url,url), and requests through the gateway.
// What each replica served and what its prefix cache hit is read from the simulators' ground truth.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet, type Fleet } from '../../src/fleet/index.ts';
import { buildGateway, type Gateway } from '../../src/gateway/index.ts';
import { selectEndpoint } from '../../src/routing/index.ts';
import { startSimFleet, type SimFleet } from '../../src/sim/fleet.ts';
import type { SimServer } from '../../src/sim/endpoint.ts';
import { postJson, TEST_TIMEOUTS } from './harness.ts';

const TEXT = readFileSync('examples/onex.fleet.yaml', 'utf8');

let sim: SimFleet | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await sim?.close();
  sim = undefined;
  gateway = undefined;
});

/** The fleet file with coder-fast as a pool of two (its second server on a made-up LAN address). */
function poolText(affinity = ''): string {
  return TEXT.replace(
    '    port: 8001\n',
    `    port: 8001\n    replicas: [http://192.168.86.202:8001]\n${affinity}`,
  );
}

async function start(
  text: string,
  latencyScale = 0.2,
  load: Partial<Fleet['routing']['load']> = {},
): Promise<{ url: string; fleet: Fleet; pool: SimServer[] }> {
  const template = parseFleet(text, 'pool.fleet.yaml', { env: {} });
  sim = await startSimFleet(template, { only: ['coder', 'coder-fast'], latencyScale, seed: 3 });
  // What `serve` does with `sim --fleet`'s exports: the variable replaces the whole pool.
  const loaded = parseFleet(text, 'pool.fleet.yaml', { env: sim.env });
  const fleet: Fleet = {
    ...loaded,
    endpoints: loaded.endpoints.map((e) => ({ ...e, timeouts: TEST_TIMEOUTS })),
    routing: { ...loaded.routing, load: { ...loaded.routing.load, ...load } },
  };
  gateway = buildGateway(fleet, {
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxWaitMs: 3_000 },
  });
  const url = await gateway.listen(0, '127.0.0.1');
  return { url, fleet, pool: [...(sim.replicas.get('coder-fast') ?? [])] };
}

const served = (s: SimServer | undefined): number =>
  s?.groundTruth().filter((t) => t.path.includes('/completions')).length ?? 0;

const SYSTEM = { role: 'system', content: 'You review code for a bank. '.repeat(60) };

const ask = (url: string, content: string, system = true, maxTokens = 40) =>
  postJson(url, '/v1/chat/completions', {
    model: 'classification',
    messages: system ? [SYSTEM, { role: 'user', content }] : [{ role: 'user', content }],
    max_tokens: maxTokens,
    ignore_eos: true,
  });

function allowed(fleet: Fleet): string[] {
  return selectEndpoint(fleet, { task: 'classification', promptTokens: 400, maxTokens: 40 }).candidates.map(
    (c) => c.endpoint.name,
  );
}

async function metric(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe('a replica pool behind the gateway (simulated vLLM 0.11, two servers of coder-fast)', () => {
  it('the env var carries the pool: the gateway sees both simulated servers', async () => {
    const { fleet, pool } = await start(poolText());
    const e = fleet.endpoints.find((x) => x.name === 'coder-fast');
    expect(e?.replicas?.map((r) => r.url)).toEqual(pool.map((s) => s.url));
    expect(pool).toHaveLength(2);
  });

  it('without a shared prefix, a burst spreads across the replicas by load', async () => {
    const { url, fleet, pool } = await start(poolText('    affinity: false\n'));
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => ask(url, `question ${i}`, false, 120)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    for (const a of answers) expect(allowed(fleet)).toContain(a.headers.get('x-llm-fleet-endpoint'));
    const onPool = answers.filter((a) => a.headers.get('x-llm-fleet-endpoint') === 'coder-fast');
    const byReplica = ['0', '1'].map(
      (id) => onPool.filter((a) => a.headers.get('x-llm-fleet-replica') === id).length,
    );
    expect(byReplica[0]).toBeGreaterThan(0);
    expect(byReplica[1]).toBeGreaterThan(0);
    expect(Math.abs((byReplica[0] ?? 0) - (byReplica[1] ?? 0))).toBeLessThanOrEqual(2);
    // The header tells the truth: each simulated server saw what the gateway says it sent there.
    expect([served(pool[0]), served(pool[1])]).toEqual(byReplica);
    // The latency histograms carry the replica on a pool's series (objectives judged per server), and
    // an endpoint of one server has no replica label.
    for (const [i, id] of ['0', '1'].entries()) {
      const series = (name: string) =>
        new RegExp(`^${name}_count\\{(?=[^}]*endpoint="coder-fast")(?=[^}]*replica="${id}")`);
      expect(await metric(url, series('gen_ai_server_time_to_first_token_seconds'))).toBe(byReplica[i]);
      expect(await metric(url, series('llm_fleet_decode_tokens_per_second'))).toBe(byReplica[i]);
      expect(await metric(url, series('gen_ai_server_time_per_output_token_seconds'))).toBeGreaterThan(0);
    }
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).not.toMatch(/_seconds_count\{[^}]*endpoint="coder"[^}]*replica=/);
  });

  it('a shared system prompt sticks to one replica and hits its prefix cache; the other stays cold', async () => {
    const { url, pool } = await start(poolText());
    const replicas: string[] = [];
    for (let i = 0; i < 6; i++) {
      const a = await ask(url, `review ${i}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
      replicas.push(a.headers.get('x-llm-fleet-replica') as string);
    }
    expect(new Set(replicas).size).toBe(1);
    const home = pool[Number(replicas[0])];
    const other = pool[1 - Number(replicas[0])];
    expect(served(home)).toBe(6);
    expect(served(other)).toBe(0);
    const cached = (home?.groundTruth() ?? []).map((t) => t.cachedPromptTokens ?? 0);
    expect(cached[0]).toBe(0);
    for (const c of cached.slice(1)) expect(c).toBeGreaterThan(300);
    expect(await metric(url, /^llm_fleet_replica_choices_total\{.*reason="affinity"/)).toBe(6);
  });

  it('above its share of the load by the factor, the home replica spills the prefix to the other', async () => {
    const { url, fleet, pool } = await start(poolText('    affinity: { loadFactor: 1.25 }\n'));
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => ask(url, `burst ${i}`, true, 150)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    for (const a of answers) expect(allowed(fleet)).toContain(a.headers.get('x-llm-fleet-endpoint'));
    const onPool = answers.filter((a) => a.headers.get('x-llm-fleet-endpoint') === 'coder-fast');
    const byReplica = ['0', '1'].map(
      (id) => onPool.filter((a) => a.headers.get('x-llm-fleet-replica') === id).length,
    );
    // Both served, the home more (it takes up to ceil(1.25 × (m + 1) / 2)), and the moves away from
    // the home were counted: spills past the bound, or a prefill queued at the home longer than the
    // shared prefix it would save ('load').
    expect(Math.min(...byReplica)).toBeGreaterThan(0);
    const moved =
      (await metric(url, /^llm_fleet_replica_choices_total\{.*reason="spill"/)) +
      (await metric(url, /^llm_fleet_replica_choices_total\{.*reason="load"/));
    expect(moved).toBeGreaterThan(0);
    expect(await metric(url, /^llm_fleet_replica_choices_total\{.*reason="affinity"/)).toBeGreaterThanOrEqual(
      Math.max(...byReplica),
    );
    expect(served(pool[0]) + served(pool[1])).toBe(onPool.length);
  });

  it('one replica down: the other takes its traffic, the endpoint stays up, the dead one is marked down', async () => {
    const { url, fleet, pool } = await start(poolText('    affinity: false\n'));
    await pool[1]?.close();
    const answers: Awaited<ReturnType<typeof ask>>[] = [];
    // Sequential: each refused connection is one failure on replica 1's breaker (5 in a row open it).
    for (let i = 0; i < 24; i++) answers.push(await ask(url, `after the crash ${i}`, false, 20));
    expect(answers.map((a) => a.status)).toEqual(Array(24).fill(200));
    for (const a of answers) {
      expect(allowed(fleet)).toContain(a.headers.get('x-llm-fleet-endpoint'));
      // The pool answered: no failover to coder, and always from the live replica.
      expect(a.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
      expect(a.headers.get('x-llm-fleet-replica')).toBe('0');
    }
    expect(served(pool[0])).toBe(24);
    expect(answers.some((a) => a.headers.get('x-llm-fleet-attempts') === '2')).toBe(true);
    // The dead replica's breaker opened: later requests go straight to the live one (one attempt).
    for (const a of answers.slice(-5)) expect(a.headers.get('x-llm-fleet-attempts')).toBe('1');
    expect(await metric(url, /^llm_fleet_replica_up\{endpoint="coder-fast",replica="1"/)).toBe(0);
    expect(await metric(url, /^llm_fleet_replica_up\{endpoint="coder-fast",replica="0"/)).toBe(1);
    expect(
      await metric(
        url,
        /^llm_fleet_replica_attempts_total\{endpoint="coder-fast",replica="1",result="connect_refused"/,
      ),
    ).toBeGreaterThan(0);
    const health = (await (await fetch(`${url}/fleet/health`)).json()) as unknown;
    expect(JSON.stringify(health)).not.toMatch(/"coder-fast"[^}]*"down"/);
  });

  it("each replica's engine is scraped on its own: /fleet/load shows them, and the pick sees other clients' load", async () => {
    const { url, fleet, pool } = await start(poolText('    affinity: false\n'), 0.2, {
      scrapeIntervalMs: 40,
      staleAfterMs: 1_000,
    });
    const model = fleet.endpoints.find((e) => e.name === 'coder-fast')?.servedModel;
    // Other clients hold three long requests on replica 1, straight to its engine.
    const release = new AbortController();
    for (let i = 0; i < 3; i++)
      void fetch(`${pool[1]?.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          messages: [{ role: 'user', content: `another client ${i}` }],
          max_tokens: 4000,
          ignore_eos: true,
        }),
        signal: release.signal,
      })
        .then((r) => r.text())
        .catch(() => undefined);
    interface View {
      name: string;
      inFlight: number;
      engine: { running: number | null } | null;
      replicas?: {
        id: string;
        url: string;
        inFlight: number;
        engine: { running: number | null; stale: boolean };
      }[];
    }
    const view = async (): Promise<View | undefined> =>
      ((await (await fetch(`${url}/fleet/load`)).json()) as { endpoints: View[] }).endpoints.find(
        (e) => e.name === 'coder-fast',
      );
    let seen = await view();
    for (let i = 0; i < 200 && seen?.replicas?.[1]?.engine.running !== 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
      seen = await view();
    }
    try {
      expect(seen?.replicas?.map((r) => [r.id, r.url, r.engine.running, r.inFlight])).toEqual([
        ['0', pool[0]?.url, 0, 0],
        ['1', pool[1]?.url, 3, 3],
      ]);
      expect(seen?.engine?.running).toBe(3);
      expect(seen?.inFlight).toBe(3);
      // Load-only balancing reads each replica's engine: the gateway's own ledger is empty on both,
      // yet every request goes to the idle replica (by the ledger alone, ties would split at random).
      for (let i = 0; i < 8; i++) {
        const a = await ask(url, `while replica 1 is busy ${i}`, false, 10);
        expect(a.status).toBe(200);
        if (a.headers.get('x-llm-fleet-endpoint') === 'coder-fast')
          expect(a.headers.get('x-llm-fleet-replica')).toBe('0');
      }
      // Nothing the gateway sent finished on replica 1 (the held requests are still running there).
      expect(served(pool[1])).toBe(0);
      expect(await metric(url, /^llm_fleet_replica_in_flight\{endpoint="coder-fast",replica="1"/)).toBe(3);
    } finally {
      release.abort();
    }
  });
});
