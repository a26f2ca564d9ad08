// Fault tests of the shared state: three gateway replicas (in-process, each its own SharedState and
// Redis connection) in front of one simulated fleet, sharing a real redis-server started here on
// a free loopback port. Breakers, the half-open probe, maxConcurrency and per-key limits must hold
// fleet-wide; with Redis killed the replicas keep serving on local state and say so; with Redis
// back they resynchronise.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/fleet/index.ts';
import { buildGateway, type Gateway } from '../../src/gateway/index.ts';
import { startMonitor } from '../../src/probes/index.ts';
import type { ProbeResult } from '../../src/probes/index.ts';
import { createHealthState } from '../../src/probes/index.ts';
import { createSharedState, SharedCounters, type SharedState } from '../../src/state/index.ts';
import { SharedLedger } from '../../src/gateway/load/shared-ledger.ts';
import { seen, startHarness, TEST_TIMEOUTS, type Harness } from '../gateway/harness.ts';
import { redisMissing, startRedis, type RedisServer } from '../support/redis.ts';

const missing = redisMissing();
if (missing) console.warn(`[skipped] shared state across replicas (Redis): ${missing}`);
const skip = missing !== undefined;

const KEY = 'sk-shared-key-0001';
// The open window is long enough that a busy machine's stalls between two steps of a test cannot
// let it run out (it did at 1.5 s under a loaded full run, turning "open" into "half-open").
const BREAKER = { consecutiveFailures: 3, failureRatio: 0.5, windowSize: 20, minAttempts: 10, openMs: 4_000 };
/** The contract's bound for a breaker change to reach another replica: an event, else the next heartbeat. */
const HEARTBEAT_MS = 300;
const PROPAGATION_BOUND_MS = HEARTBEAT_MS * 2;

interface Replica {
  readonly state: SharedState;
  readonly gateway: Gateway;
  readonly url: string;
}

let redis: RedisServer;
let h: Harness;
let replicas: Replica[] = [];

function newState(): Promise<SharedState> {
  return createSharedState(h.fleet, {
    state: redis.url,
    breaker: BREAKER,
    heartbeatMs: HEARTBEAT_MS,
    // Generous on a shared 2-core machine: this suite asserts exact counts, not latency.
    timeoutMs: 1_000,
    queuePollMs: 50,
  });
}

async function startReplica(): Promise<Replica> {
  const state = await newState();
  const gateway = buildGateway(h.fleet, {
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxWaitMs: 3_000 },
    state,
  });
  return { state, gateway, url: await gateway.listen(0, '127.0.0.1') };
}

function chat(url: string, model: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4, ...extra }),
  });
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  withinMs: number,
): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > withinMs) throw new Error(`not within ${withinMs} ms: ${what}`);
    await sleep(10);
  }
  return Date.now() - start;
}

function circuit(r: Replica, endpoint: string): string {
  return r.gateway.context.breaker(endpoint).snapshot(Date.now()).state;
}

/** Most requests the simulator had in flight at once (from its own arrival and end times). */
function peakConcurrency(h: Harness, endpoint: string): number {
  const events = (h.sims[endpoint]?.groundTruth() ?? []).flatMap((t) => [
    { at: t.arrivalMs, d: 1 },
    { at: t.endAtMs ?? Number.POSITIVE_INFINITY, d: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of events) peak = Math.max(peak, (now += e.d));
  return peak;
}

describe.skipIf(skip)('replicas sharing state in Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    h = await startHarness({
      gateway: {
        apiKeys: [KEY],
        keyLimits: [{ key: KEY, name: 'shared-team', requestsPerMinute: 1_000_000 }],
      },
      patch: (e: Endpoint) =>
        e.name === 'coder-fast'
          ? // A first token may be held back long enough for the queue test's stopped Redis.
            { maxConcurrency: 2, maxQueue: 100, timeouts: { ...TEST_TIMEOUTS, ttftTimeoutMs: 20_000 } }
          : e.name === 'coder'
            ? { maxConcurrency: 64, maxQueue: 200 }
            : {},
    });
    replicas = [await startReplica(), await startReplica(), await startReplica()];
  }, 30_000);

  afterAll(async () => {
    for (const r of replicas) {
      await r.gateway.close();
      await r.state.close();
    }
    await h?.close();
    await redis?.stop();
  });

  it('an endpoint failing through replica A opens the breaker B and C use, within the bound; one replica sends the half-open probe', async () => {
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    h.setFaults('coder-fast', [{ kind: 'http-500' }]);
    const before = seen(h, 'coder-fast');
    for (let i = 0; i < BREAKER.consecutiveFailures; i++)
      expect((await chat(a.url, 'coder-fast')).status).toBe(200);
    expect(circuit(a, 'coder-fast')).toBe('open');
    const lagMs = await until(
      'B and C see the circuit open',
      () => circuit(b, 'coder-fast') === 'open' && circuit(c, 'coder-fast') === 'open',
      PROPAGATION_BOUND_MS,
    );
    console.log(`breaker open reached the other replicas in ${lagMs} ms (bound ${PROPAGATION_BOUND_MS} ms)`);
    const failedSends = seen(h, 'coder-fast') - before;
    // B and C now steer around it without sending it anything.
    for (const r of [b, c]) expect((await chat(r.url, 'coder-fast')).status).toBe(200);
    expect(seen(h, 'coder-fast') - before).toBe(failedSends);

    // Half-open: nine requests at once over the three replicas; exactly one reaches the endpoint.
    await sleep(BREAKER.openMs + 50);
    const probeBefore = seen(h, 'coder-fast');
    const burst = await Promise.all(replicas.flatMap((r) => [0, 1, 2].map(() => chat(r.url, 'coder-fast'))));
    expect(burst.map((r) => r.status)).toEqual(new Array(9).fill(200));
    expect(seen(h, 'coder-fast') - probeBefore).toBe(1);
    // The failed probe opened it again, everywhere.
    await until(
      'reopened everywhere',
      () => replicas.every((r) => circuit(r, 'coder-fast') === 'open'),
      PROPAGATION_BOUND_MS,
    );

    // The endpoint recovers: one probe closes it, and every replica learns so.
    h.setFaults('coder-fast', []);
    await sleep(BREAKER.openMs + 50);
    const ok = await chat(c.url, 'coder-fast');
    expect(ok.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
    await until(
      'closed everywhere',
      () => replicas.every((r) => circuit(r, 'coder-fast') === 'closed'),
      PROPAGATION_BOUND_MS,
    );
  }, 60_000);

  it('maxConcurrency holds for the whole fleet: 2 in flight at most over three replicas, the rest queue and all succeed', async () => {
    h.sims['coder-fast']?.clearGroundTruth();
    h.setFaults('coder-fast', [{ kind: 'slow-first-token', delayMs: 150 }]);
    const answers = await Promise.all(
      replicas.flatMap((r) => [0, 1, 2, 3].map(() => chat(r.url, 'coder-fast'))),
    );
    h.setFaults('coder-fast', []);
    expect(answers.map((r) => r.status)).toEqual(new Array(12).fill(200));
    expect(answers.every((r) => r.headers.get('x-llm-fleet-endpoint') === 'coder-fast')).toBe(true);
    expect(seen(h, 'coder-fast')).toBe(12);
    expect(peakConcurrency(h, 'coder-fast')).toBe(2);
    const usage = await replicas[0]!.state.usage(['coder-fast']);
    expect(usage['coder-fast']).toEqual({ inFlight: 0, queued: 0 });
  }, 30_000);

  it("with room to spare, attempts come from the replica's reserve with no round trip; maxConcurrency still holds; an idle reserve goes back", async () => {
    const before = replicas.map((r) => ({ ...r.state.admissions }));
    // One after another: the first attempt reserves slots (64 / 16) and requests of the key, and
    // the rest are admitted from that reserve (the slot kept at each end).
    for (const r of replicas) {
      for (let i = 0; i < 10; i++) {
        const res = await chat(r.url, 'coder');
        expect(res.status).toBe(200);
        await res.text();
      }
    }
    const delta = replicas.map((r, i) => ({
      backend: r.state.admissions.backend - before[i]!.backend,
      reserve: r.state.admissions.reserve - before[i]!.reserve,
      local: r.state.admissions.local - before[i]!.local,
    }));
    for (const d of delta) {
      expect(d.local).toBe(0);
      expect(d.backend + d.reserve).toBe(10);
      // A heartbeat gives an idle reserve back; a request slower than one (a stalled machine)
      // costs a round trip again, so allow a few.
      expect(d.reserve).toBeGreaterThanOrEqual(6);
    }
    // Reserves never stretch the limit: 120 at once over three replicas, 64 at most in flight.
    h.sims.coder?.clearGroundTruth();
    h.setFaults('coder', [{ kind: 'slow-first-token', delayMs: 150 }]);
    const answers = await Promise.all(
      replicas.flatMap((r) => new Array(40).fill(0).map(() => chat(r.url, 'coder'))),
    );
    h.setFaults('coder', []);
    await Promise.all(answers.map((a) => a.text()));
    expect(answers.map((r) => r.status)).toEqual(new Array(120).fill(200));
    expect(seen(h, 'coder')).toBe(120);
    expect(peakConcurrency(h, 'coder')).toBeLessThanOrEqual(64);
    // Unused for a heartbeat, every reserve goes back to the store.
    await until(
      'no slot of coder held or reserved',
      async () => {
        const usage = await replicas[0]!.state.usage(['coder']);
        return usage.coder?.inFlight === 0 && usage.coder.queued === 0;
      },
      HEARTBEAT_MS * 10,
    );
  }, 60_000);

  it('a per-key limit holds exactly across replicas under concurrent load', async () => {
    const limited = {
      ...h.fleet,
      gateway: { ...h.fleet.gateway, keyLimits: [{ key: KEY, requestsPerMinute: 10 }] },
    };
    const extra: Replica[] = [];
    for (let i = 0; i < 3; i++) {
      const state = await newState();
      const gateway = buildGateway(limited, { env: { LLM_FLEET_LOOPBACK_ONLY: '1' }, state });
      extra.push({ state, gateway, url: await gateway.listen(0, '127.0.0.1') });
    }
    try {
      // 30 at once, 10 per replica, against 10 per minute (one more every 6 s: none refills here).
      const answers = await Promise.all(
        extra.flatMap((r) => new Array(10).fill(0).map(() => chat(r.url, 'coder-fast'))),
      );
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
      const refused = answers.find((r) => r.status === 429) as Response;
      expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('10');
      expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      for (const r of extra) {
        await r.gateway.close();
        await r.state.close();
      }
    }
  }, 30_000);

  it('a waiter that leaves while the restatement after a loss travels gives its queue place back', async () => {
    // Its own replica, heartbeats driven here (not by the timer), so the restatement is in flight
    // exactly while the waiter leaves: Redis is stopped (SIGSTOP) until then.
    const state = await createSharedState(h.fleet, {
      state: redis.url,
      breaker: BREAKER,
      heartbeatMs: 600_000,
      timeoutMs: 3_000,
      lostAfter: 1,
      queuePollMs: 50,
    });
    const gateway = buildGateway(h.fleet, { env: { LLM_FLEET_LOOPBACK_ONLY: '1' }, state });
    const url = await gateway.listen(0, '127.0.0.1');
    const clients = new AbortController();
    const waiter = new AbortController();
    const pid = redis.pid() as number;
    const send = (signal: AbortSignal): void =>
      void fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify({
          model: 'coder-fast',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 4,
        }),
      }).catch(() => undefined);
    try {
      h.setFaults('coder-fast', [{ kind: 'slow-first-token', delayMs: 30_000 }]);
      // Both slots of coder-fast held through Redis.
      send(clients.signal);
      send(clients.signal);
      await until('two slots held', () => state.held('coder-fast').inFlight === 2, 5_000);
      process.kill(pid, 'SIGSTOP');
      await state.heartbeat();
      expect(state.status().shared).toBe(false);
      // Cut off: this replica's share of the slots (ceil(2 / replicas) = 1) taken locally, then a
      // waiter queued locally.
      send(clients.signal);
      await until('a local slot held', () => state.held('coder-fast').inFlight === 3, 5_000);
      send(waiter.signal);
      await until('one queued', () => state.held('coder-fast').queued === 1, 5_000);
      // The restatement counts the waiter; it leaves while the restatement waits for Redis.
      const restated = state.heartbeat();
      waiter.abort();
      await until('the waiter is gone', () => state.held('coder-fast').queued === 0, 5_000);
      process.kill(pid, 'SIGCONT');
      await restated;
      expect(state.status().shared).toBe(true);
      await until(
        'no queue place left in the store',
        async () => (await state.usage(['coder-fast']))['coder-fast']?.queued === 0,
        2_000,
      );
    } finally {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already running
      }
      h.setFaults('coder-fast', []);
      // Gone clients are not the endpoint's failures: their attempts end before the replica closes.
      clients.abort();
      await until('every slot given back', () => state.held('coder-fast').inFlight === 0, 5_000);
      await gateway.close();
      await state.close();
    }
  }, 60_000);

  it('one replica probes each endpoint under a lease; every replica routes on what it found', async () => {
    const routable = h.fleet.endpoints.filter((e) => e.status === 'running').map((e) => e.name);
    const probed: ProbeResult[][] = [[], []];
    const monitors = await Promise.all(
      [0, 1].map((i) =>
        startMonitor(h.fleet, {
          state: createHealthState(h.fleet),
          coordination: replicas[i]!.state,
          intervalMs: 60_000,
          requestProbeEvery: 0,
          fingerprintEvery: 0,
          autoStart: false,
          env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
          onProbe: (r) => probed[i]!.push(r),
        }),
      ),
    );
    try {
      await Promise.all(monitors.map((m) => m.tick()));
      await Promise.all(monitors.map((m) => m.tick()));
      const all = [...probed[0]!, ...probed[1]!];
      // Two rounds, every endpoint probed twice in all, each always by the same replica.
      for (const name of routable) {
        const by = [0, 1].filter((i) => probed[i]!.some((r) => r.endpoint === name));
        expect({ name, probes: all.filter((r) => r.endpoint === name).length, replicas: by.length }).toEqual({
          name,
          probes: 2,
          replicas: 1,
        });
      }
      // Each replica's health view holds the other's findings too.
      await until(
        'both views up everywhere',
        () => monitors.every((m) => routable.every((n) => m.state.state(n) === 'up')),
        PROPAGATION_BOUND_MS,
      );
    } finally {
      await Promise.all(monitors.map((m) => m.stop()));
    }
  }, 30_000);

  it('a pool probed under the lease: every gateway replica learns which pool server is down, not just the endpoint', async () => {
    // coder-fast as a pool: its simulator, and a second server on loopback that refuses connections.
    const fleet = {
      ...h.fleet,
      endpoints: h.fleet.endpoints.map((e) =>
        e.name === 'coder-fast' && e.url
          ? {
              ...e,
              replicas: [
                { id: '0', url: e.url },
                { id: '1', url: 'http://127.0.0.1:9' },
              ],
            }
          : e,
      ),
    };
    const monitors = await Promise.all(
      [0, 1].map((i) =>
        startMonitor(fleet, {
          state: createHealthState(fleet),
          coordination: replicas[i]!.state,
          intervalMs: 60_000,
          requestProbeEvery: 0,
          fingerprintEvery: 0,
          autoStart: false,
          env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
        }),
      ),
    );
    try {
      for (let round = 0; round < 2; round++) await Promise.all(monitors.map((m) => m.tick()));
      await until(
        'both views: coder-fast up, its replica 1 down',
        () =>
          monitors.every(
            (m) =>
              m.state.state('coder-fast') === 'up' &&
              m.state.replicaStates('coder-fast').get('0') === 'up' &&
              m.state.replicaStates('coder-fast').get('1') === 'down',
          ),
        PROPAGATION_BOUND_MS,
      );
      // The incident is the replica's in both views, from the same probe.
      const incidents = monitors.map((m) => m.state.incidents().filter((i) => i.endpoint === 'coder-fast'));
      expect(incidents[0]).toEqual([expect.objectContaining({ replica: '1', cause: 'connect_refused' })]);
      expect(incidents[1]).toEqual(incidents[0]);
    } finally {
      await Promise.all(monitors.map((m) => m.stop()));
    }
  }, 30_000);

  it("shared counters (for the load ledger): each replica adds the others' last published values", async () => {
    const local = [{ 'coder:inFlight': 3 }, { 'coder:inFlight': 4 }, { 'coder:inFlight': 5 }];
    const counters = replicas.map(
      (r, i) => new SharedCounters(r.state, { name: 'ledger-test', periodMs: 100, read: () => local[i]! }),
    );
    try {
      await until(
        'every replica sums all three',
        () => counters.every((c) => c.total('coder:inFlight') === 12),
        2_000,
      );
      local[1] = { 'coder:inFlight': 0 };
      await until(
        'a change arrives within a period or two',
        () => counters[0]!.total('coder:inFlight') === 8,
        500,
      );
      // A replica that stops publishing drops out after three periods.
      counters[2]!.close();
      await until('the silent replica drops out', () => counters[0]!.total('coder:inFlight') === 3, 1_000);
      expect(counters[0]!.replicasHeard()).toBe(1);
    } finally {
      for (const c of counters) c.close();
    }
  });

  it('the load ledger over replicas: a dispatch through A counts in B within a period, and its end too', async () => {
    const [a, b] = [
      new SharedLedger(replicas[0]!.state, { periodMs: 100 }),
      new SharedLedger(replicas[1]!.state, { periodMs: 100 }),
    ];
    try {
      const ticket = a.dispatch('coder', {
        promptTokens: 120,
        expectedDecodeTokens: 64,
        priority: 'interactive',
      });
      b.dispatch('coder', { promptTokens: 30, expectedDecodeTokens: 16, priority: 'batch' });
      expect(b.counts('coder')).toMatchObject({ inFlight: 1, prefillWaitingTokens: 30 });
      await until("B sees A's dispatch", () => b.counts('coder').inFlight === 2, 1_000);
      expect(b.counts('coder')).toMatchObject({
        prefilling: 2,
        prefillWaitingTokens: 150,
        decodeTokensExpected: 80,
        batchInFlight: 1,
      });
      ticket.firstToken();
      await until('B sees its first token', () => b.counts('coder').prefillWaitingTokens === 30, 1_000);
      ticket.end();
      await until('B sees it end', () => b.counts('coder').inFlight === 1, 1_000);
      expect(a.counts('coder')).toMatchObject({ inFlight: 1, batchInFlight: 1 });
    } finally {
      a.close();
      b.close();
    }
  });

  it('Redis killed under load: requests keep flowing on local state, /health says degraded; Redis back: state resynchronised', async () => {
    const [a, b] = replicas as [Replica, Replica, Replica];
    let stop = false;
    const statuses: number[] = [];
    let sent = 0;
    const load = Promise.all(
      replicas.flatMap((r) =>
        [0, 1].map(async () => {
          while (!stop) {
            sent += 1;
            const res = await chat(r.url, 'coder');
            await res.arrayBuffer();
            statuses.push(res.status);
          }
        }),
      ),
    );
    await sleep(300);
    await redis.kill();
    await until(
      'every replica says degraded',
      async () => {
        const bodies = await Promise.all(
          replicas.map(async (r) => (await (await fetch(`${r.url}/health`)).json()) as { status: string }),
        );
        return bodies.every((x) => x.status === 'degraded');
      },
      5_000,
    );
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/llm_fleet_state_shared\{mode="redis"\} 0/);
    expect(metrics).toMatch(/llm_fleet_state_losses_total [1-9]/);

    // While cut off, A's own failures open A's breaker (B does not know yet).
    h.setFaults('coder-fast', [{ kind: 'http-500' }]);
    for (let i = 0; i < BREAKER.consecutiveFailures; i++)
      await (await chat(a.url, 'coder-fast')).arrayBuffer();
    expect(circuit(a, 'coder-fast')).toBe('open');
    expect(circuit(b, 'coder-fast')).toBe('closed');
    h.setFaults('coder-fast', []);
    await sleep(200);
    const duringOutage = statuses.length;

    await redis.start();
    await until(
      'every replica shared again',
      async () => {
        const bodies = await Promise.all(
          replicas.map(async (r) => (await (await fetch(`${r.url}/health`)).json()) as { status: string }),
        );
        return bodies.every((x) => x.status === 'ok');
      },
      5_000,
    );
    // A's breaker, opened while cut off, reached the fresh Redis and B through it.
    // (open, or half-open if its open time ran out meanwhile; never closed as B alone saw it).
    await until("A's breaker reaches B", () => circuit(b, 'coder-fast') !== 'closed', PROPAGATION_BOUND_MS);
    await sleep(200);
    stop = true;
    await load;
    // Nothing lost: every request sent got an answer, and every answer was a success.
    expect(statuses).toHaveLength(sent);
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(duringOutage).toBeGreaterThan(0);
    // Slots resynchronised: the fleet-wide count is back to what the replicas hold (nothing).
    await until(
      'no slot leaked',
      async () => {
        const usage = await a.state.usage(h.fleet.endpoints.map((e) => e.name));
        return Object.values(usage).every((u) => u.inFlight === 0 && u.queued === 0);
      },
      3_000,
    );
    // Every replica is counted again (its share when cut off next time depends on it).
    await until('all three replicas counted', () => a.state.status().replicas === 3, 3_000);
    expect(a.state.status().shared).toBe(true);
  }, 40_000);
});
