// One simulated server per fleet endpoint, speaking its dialect with its served model, context window
// and reasoning, on an ephemeral loopback port; `env` points each endpoint's env var at its server
// (what `loadFleet(file, { env })` and a `serve` process read).
import type { Endpoint } from '../../src/fleet/index.ts';
import { startSimEndpoint, type SimEndpointOptions, type SimServer } from '../../src/sim/endpoint.ts';
import type { FaultSpec } from '../../src/sim/faults.ts';
import type { LatencyModel } from '../../src/sim/latency.ts';

export interface EndpointSims {
  readonly sims: Record<string, SimServer>;
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export async function startEndpointSims(
  endpoints: readonly Endpoint[],
  options: {
    readonly seed: number;
    readonly latency: Partial<LatencyModel>;
    readonly faults?: Readonly<Record<string, FaultSpec[]>>;
    /** Per-endpoint simulator options (server version, reasoning parser, …). */
    readonly sim?: Readonly<Record<string, Partial<SimEndpointOptions>>>;
  },
): Promise<EndpointSims> {
  const sims: Record<string, SimServer> = {};
  const env: Record<string, string> = {};
  for (const e of endpoints) {
    const sim = await startSimEndpoint({
      dialect: e.dialect,
      model: e.servedModel,
      kind: e.kind,
      name: e.name,
      contextWindowTokens: e.contextWindowTokens,
      reasoning: e.reasoning,
      seed: options.seed,
      latency: options.latency,
      faults: options.faults?.[e.name],
      ...options.sim?.[e.name],
    });
    sims[e.name] = sim;
    env[e.env] = sim.url;
  }
  return {
    sims,
    env,
    async close() {
      await Promise.all(Object.values(sims).map((s) => s.close()));
    },
  };
}
