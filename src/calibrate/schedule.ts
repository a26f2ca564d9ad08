// Isolation: one request at a time per endpoint, and never two endpoints of the same host at once
// (they share its GPU, memory and thermal budget). With parallelHosts, endpoints on different hosts
// run side by side; without it, everything runs one after the other.
export interface Schedulable {
  readonly name: string;
  readonly host: string;
}

/** Lanes that may run concurrently; the endpoints in one lane run in order. */
export function planLanes<T extends Schedulable>(endpoints: readonly T[], parallelHosts: boolean): T[][] {
  if (!parallelHosts) return endpoints.length > 0 ? [[...endpoints]] : [];
  const byHost = new Map<string, T[]>();
  for (const e of endpoints) {
    const lane = byHost.get(e.host) ?? [];
    lane.push(e);
    byHost.set(e.host, lane);
  }
  return [...byHost.values()];
}
