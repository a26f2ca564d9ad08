// The demo fleet for browser tests: the simulated example fleet (`startSimFleet`, as `llm-fleet demo`
// uses), the fleet file pointed at it through its env vars, the sqlite store, the monitor probing every
// half second, the gateway with the dashboard mounted, and a trickle of real traffic through it.
// Everything listens on 127.0.0.1 with ephemeral ports.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_POOLS } from '../../src/cli/demo.ts';
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

/**
 * The example fleet's `business-hours` window (09:00–18:00 America/Los_Angeles, weekdays) is open
 * or closed depending on when the tests run, and what the dashboard shows depends on it. The demo
 * fleet therefore rewrites that window, every day of the week, 06:00–18:00 in a fixed-offset zone
 * chosen so that the local time now is about noon ('open') or about midnight ('closed'). Everything
 * else is the example fleet file as written.
 */
export function fleetTextWithBusinessHours(
  text: string,
  state: 'open' | 'closed',
  nowMs = Date.now(),
): string {
  const utcHour = new Date(nowMs).getUTCHours();
  // Offset from UTC that puts local now at 12:xx (open) or 00:xx (closed), kept within -11..+12.
  let offset = (state === 'open' ? 12 : 0) - utcHour;
  if (offset < -11) offset += 24;
  if (offset > 12) offset -= 24;
  // IANA's Etc/GMT zones have the sign inverted: Etc/GMT-5 is UTC+5.
  const zone = offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
  const window = [
    '  business-hours:',
    '    days: [mon, tue, wed, thu, fri, sat, sun]',
    "    start: '06:00'",
    "    end: '18:00'",
    `    timezone: ${zone}`,
  ].join('\n');
  const replaced = text.replace(/^ {2}business-hours:\n(?: {4}.*\n)+/m, `${window}\n`);
  if (replaced === text) throw new Error(`${FLEET_FILE}: no business-hours window to rewrite`);
  return replaced;
}

export interface DemoFleet {
  readonly url: string;
  readonly fleet: Fleet;
  /** The env overrides that point the fleet file at the simulators (for CLI runs). */
  readonly env: Record<string, string>;
  readonly storePath: string;
  /** The fleet file the demo runs (the example with its business-hours window fixed, see above). */
  readonly fleetFile: string;
  readonly sims: ReadonlyMap<string, SimServer>;
  /** Every simulated server per endpoint (the demo's coder is a pool of two). */
  readonly pools: ReadonlyMap<string, readonly SimServer[]>;
  readonly monitor: Monitor;
  readonly store: SqlStore;
  readonly gateway: Gateway;
  readonly dashboard: Dashboard;
  /** Requests sent through the gateway so far. */
  sent(): number;
  stopTraffic(): Promise<void>;
  close(): Promise<void>;
}

export async function startDemoFleet(
  options: { readonly businessHours?: 'open' | 'closed' } = {},
): Promise<DemoFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-browser-'));
  const fleetFile = join(dir, 'fleet.yaml');
  writeFileSync(
    fleetFile,
    fleetTextWithBusinessHours(readFileSync(FLEET_FILE, 'utf8'), options.businessHours ?? 'open'),
  );
  // The demo's simulated fleet: latencies derived from each endpoint's targets. The planned
  // endpoint stays planned (not simulated), as on a real fleet with a port still TBD.
  const simFleet = await startSimFleet(loadFleet(fleetFile, { env: {}, environment: 'development' }), {
    seed: 1,
    replicas: DEMO_POOLS,
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
    fleetFile,
    sims,
    pools: simFleet.replicas,
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
