// The example fleet with every routable endpoint pointed at a simulated server on loopback.
import type { Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { checkHealth } from '../../src/probes/health.ts';
import type { SimServer } from '../../src/sim/endpoint.ts';
import { startSimEndpoint } from '../../src/sim/endpoint.ts';
import type { FaultSpec } from '../../src/sim/faults.ts';

export interface SimExample {
  readonly fleet: Fleet;
  readonly sims: ReadonlyMap<string, SimServer>;
  /** Sets faults on one endpoint and waits until its health check shows the effect. */
  setFaults(endpoint: string, faults: FaultSpec[], expectHealthy: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startSimExample(fleetPath = 'examples/onex.fleet.yaml'): Promise<SimExample> {
  const base = loadFleet(fleetPath, { env: {} });
  const sims = new Map<string, SimServer>();
  const env: NodeJS.ProcessEnv = {};
  for (const e of base.endpoints) {
    if (e.status !== 'running') continue;
    const sim = await startSimEndpoint({
      dialect: e.dialect,
      model: e.servedModel,
      kind: e.kind,
      reasoning: e.reasoning,
      name: e.name,
      latency: { scale: 0.01 },
    });
    sims.set(e.name, sim);
    env[e.env] = sim.url;
  }
  const fleet = loadFleet(fleetPath, { env });
  return {
    fleet,
    sims,
    async setFaults(endpoint, faults, expectHealthy) {
      const sim = sims.get(endpoint);
      const e = fleet.endpoints.find((x) => x.name === endpoint);
      if (!sim || !e) throw new Error(`no sim for ${endpoint}`);
      sim.setFaults(faults);
      // The listener closes and reopens asynchronously: wait for the effect, not for a fixed time.
      for (let i = 0; i < 200; i++) {
        const r = await checkHealth(e, { timeoutMs: 2000 });
        if (r.ok === expectHealthy) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`${endpoint} did not become ${expectHealthy ? 'healthy' : 'unhealthy'}`);
    },
    async close() {
      await Promise.all([...sims.values()].map((s) => s.close()));
    },
  };
}
