// Incidents from several gateway replicas in one shared store: one incident per endpoint outage,
// not one per replica. Two replicas share a real redis-server (the probe lease: one probes, both
// take in what it found) and a real PostgreSQL store; replica A also sees the outage in its own
// traffic first, so the two health views open the incident at different moments — and the store
// still holds one, spanning what both saw.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGateway, type Gateway } from '../../src/gateway/index.ts';
import {
  createHealthState,
  startMonitor,
  type HealthStateMachine,
  type Monitor,
} from '../../src/probes/index.ts';
import { createSharedState, type SharedState } from '../../src/state/index.ts';
import { openPostgresStore } from '../../src/store/postgres-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { startHarness, type Harness } from '../gateway/harness.ts';
import { postgresMissing, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { redisMissing, startRedis, type RedisServer } from '../support/redis.ts';

const missing = redisMissing() ?? postgresMissing();
if (missing) console.warn(`[skipped] incidents across replicas (Redis + PostgreSQL): ${missing}`);

const ENDPOINT = 'coder';
const env = { LLM_FLEET_LOOPBACK_ONLY: '1' };

interface Replica {
  readonly state: SharedState;
  readonly store: SqlStore;
  readonly health: HealthStateMachine;
  readonly gateway: Gateway;
  readonly url: string;
  readonly monitor: Monitor;
}

let redis: RedisServer;
let pg: PostgresServer;
let h: Harness;
const replicas: Replica[] = [];

async function startReplica(storeUrl: string): Promise<Replica> {
  const state = await createSharedState(h.fleet, { state: redis.url, heartbeatMs: 300, timeoutMs: 1_000 });
  const store = await openPostgresStore({ url: storeUrl, fleet: h.fleet, flushIntervalMs: 100 });
  const health = createHealthState(h.fleet);
  const gateway = buildGateway(h.fleet, {
    env,
    state,
    health,
    retry: { baseDelayMs: 10, maxDelayMs: 20, maxWaitMs: 100 },
  });
  const monitor = await startMonitor(h.fleet, {
    state: health,
    coordination: state,
    store,
    intervalMs: 60_000,
    requestProbeEvery: 0,
    fingerprintEvery: 0,
    autoStart: false,
    env,
  });
  return { state, store, health, gateway, url: await gateway.listen(0, '127.0.0.1'), monitor };
}

/** Both replicas' probe rounds (each probes what its lease holds), then the other's findings land. */
async function round(): Promise<void> {
  await Promise.all(replicas.map((r) => r.monitor.tick()));
  await new Promise((resolve) => setTimeout(resolve, 100));
}

describe.skipIf(missing !== undefined)('incidents from two replicas in one PostgreSQL store', () => {
  beforeAll(async () => {
    redis = await startRedis();
    pg = await startPostgres();
    h = await startHarness();
    const storeUrl = await pg.createDatabase('incidents_replicas');
    replicas.push(await startReplica(storeUrl), await startReplica(storeUrl));
  }, 60_000);

  afterAll(async () => {
    for (const r of replicas) {
      await r.monitor.stop();
      await r.gateway.close();
      await r.state.close();
      await r.store.close();
    }
    await h?.close();
    await pg?.stop();
    await redis?.stop();
  });

  it('one endpoint outage is one incident in the store, however many replicas saw it', async () => {
    await round();
    expect(replicas.map((r) => r.health.state(ENDPOINT))).toEqual(['up', 'up']);
    h.setFaults(ENDPOINT, [{ kind: 'down' }]);
    const [a, b] = replicas as [Replica, Replica];
    // A's own traffic meets the outage first: A's view goes down before any probe runs.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: ENDPOINT, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
      });
      await res.arrayBuffer();
    }
    expect(a.health.state(ENDPOINT)).toBe('down');
    // The probes (one replica holds the lease) take B's view down too.
    await round();
    await round();
    expect(b.health.state(ENDPOINT)).toBe('down');
    const openedA = a.health.openIncident(ENDPOINT);
    const openedB = b.health.openIncident(ENDPOINT);
    // The two views really differ: the test would prove nothing if they opened at the same moment.
    expect(openedA?.startedAtMs).toBeLessThan(openedB?.startedAtMs ?? 0);
    h.setFaults(ENDPOINT, []);
    await round();
    await round();
    expect(replicas.map((r) => r.health.state(ENDPOINT))).toEqual(['up', 'up']);
    // Every incident write has landed once the monitors stop.
    for (const r of replicas) await r.monitor.stop();
    const stored = await a.store.incidents({ fromMs: 0, toMs: Date.now() + 1 }, ENDPOINT);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ endpoint: ENDPOINT, startedAtMs: openedA?.startedAtMs });
    expect(stored[0]?.endedAtMs).toBeGreaterThan(openedB?.startedAtMs ?? 0);
    expect(await b.store.openIncidents()).toEqual([]);
  }, 60_000);
});
