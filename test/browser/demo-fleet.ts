// The demo fleet for browser tests: the simulated example fleet (`startSimFleet`, as `llm-fleet demo`
// uses), the fleet file pointed at it through its env vars, the sqlite store, the monitor probing every
// half second, the gateway with the dashboard mounted, and a trickle of real traffic through it.
// Everything listens on 127.0.0.1 with ephemeral ports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDashboard } from '../../src/dashboard/index.ts';
import type { Dashboard } from '../../src/dashboard/index.ts';
import type { Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { buildGateway } from '../../src/gateway/index.ts';
import type { Gateway } from '../../src/gateway/index.ts';
import { startMonitor } from '../../src/probes/monitor.ts';
import type { Monitor } from '../../src/probes/monitor.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import type { SimServer } from '../../src/sim/endpoint.ts';
import { openSqliteStore } from '../../src/store/index.ts';
import type { SqlStore } from '../../src/store/index.ts';

export const FLEET_FILE = 'examples/onex.fleet.yaml';

export interface DemoFleet {
  readonly url: string;
  readonly fleet: Fleet;
  /** The env overrides that point the fleet file at the simulators (for CLI runs). */
  readonly env: Record<string, string>;
  readonly storePath: string;
  readonly sims: ReadonlyMap<string, SimServer>;
  readonly monitor: Monitor;
  readonly store: SqlStore;
  readonly gateway: Gateway;
  readonly dashboard: Dashboard;
  /** Requests sent through the gateway so far. */
  sent(): number;
  stopTraffic(): Promise<void>;
  close(): Promise<void>;
}

export async function startDemoFleet(): Promise<DemoFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-browser-'));
  // The demo's simulated fleet: latencies derived from each endpoint's targets. The planned
  // endpoint stays planned (not simulated), as on a real fleet with a port still TBD.
  const simFleet = await startSimFleet(loadFleet(FLEET_FILE, { env: {}, environment: 'development' }), {
    seed: 1,
  });
  const { fleet, env } = simFleet;
  const sims = simFleet.endpoints;
  const storePath = join(dir, 'fleet.db');
  const store = await openSqliteStore({ path: storePath, fleet, flushIntervalMs: 200 });
  const monitor = await startMonitor(fleet, {
    store,
    intervalMs: 500,
    requestProbeEvery: 0,
    downAfter: 2,
    upAfter: 2,
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
  });
  const dashboard = createDashboard({ fleet, store, health: monitor.state, refreshIntervalMs: 1000 });
  const gateway = buildGateway(fleet, {
    health: monitor.state,
    sink: store,
    dashboard,
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
  });
  const url = await gateway.listen(0, '127.0.0.1');

  let sent = 0;
  let running = true;
  const inFlight = new Set<Promise<unknown>>();
  const send = (task: string): void => {
    const body =
      task === 'embedding'
        ? { model: 'embedding', input: ['a', 'b', 'c', 'd'] }
        : {
            model: task,
            max_tokens: 160,
            stream: true,
            messages: [{ role: 'user', content: `hello ${sent}` }],
          };
    const path = task === 'embedding' ? '/v1/embeddings' : '/v1/chat/completions';
    const p = fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
      .then((res) => res.arrayBuffer())
      .catch(() => undefined)
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent += 1;
  };
  const tasks = ['code', 'routing', 'code', 'embedding', 'reasoning'];
  const timer = setInterval(() => {
    if (running && inFlight.size < 8) send(tasks[sent % tasks.length] as string);
  }, 150);

  const stopTraffic = async (): Promise<void> => {
    running = false;
    clearInterval(timer);
    await Promise.all([...inFlight]);
    await store.flush();
  };

  return {
    url,
    fleet,
    env,
    storePath,
    sims,
    monitor,
    store,
    gateway,
    dashboard,
    sent: () => sent,
    stopTraffic,
    async close() {
      await stopTraffic();
      dashboard.close();
      await monitor.stop();
      await gateway.close();
      await store.close();
      await simFleet.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
