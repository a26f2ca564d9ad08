// The gateway's own view of endpoint health from its traffic alone, behind the shared
// FleetHealthState interface so the monitor's fuller implementation (probes + traffic) can take
// its place. Down after `downAfter` failures in a row, up again on the first success.
import type { Fleet } from '../fleet/index.ts';
import type {
  EndpointState,
  FleetHealthState,
  HealthChange,
  HealthObservation,
  Incident,
} from '../probes/types.ts';

export class PassiveHealth implements FleetHealthState {
  private readonly current = new Map<string, EndpointState>();
  private readonly failures = new Map<string, number>();
  private readonly listeners = new Set<(change: HealthChange) => void>();
  private readonly incidentList: Incident[] = [];
  private readonly hostOf: ReadonlyMap<string, string>;
  private readonly downAfter: number;

  constructor(fleet: Fleet, downAfter = 3) {
    this.downAfter = downAfter;
    this.hostOf = new Map(fleet.endpoints.map((e) => [e.name, e.host]));
    for (const e of fleet.endpoints) this.current.set(e.name, 'unknown');
  }

  state(endpoint: string): EndpointState {
    return this.current.get(endpoint) ?? 'unknown';
  }

  states(): ReadonlyMap<string, EndpointState> {
    return this.current;
  }

  observe(o: HealthObservation): void {
    const before = this.state(o.endpoint);
    let after = before;
    if (o.ok) {
      this.failures.set(o.endpoint, 0);
      after = 'up';
    } else {
      const n = (this.failures.get(o.endpoint) ?? 0) + 1;
      this.failures.set(o.endpoint, n);
      if (n >= this.downAfter) after = 'down';
    }
    if (after === before) return;
    this.current.set(o.endpoint, after);
    if (after === 'down')
      this.incidentList.push({ endpoint: o.endpoint, startedAtMs: o.atMs, cause: o.cause ?? 'failing' });
    if (before === 'down') {
      const i = this.incidentList.findLastIndex(
        (x) => x.endpoint === o.endpoint && x.endedAtMs === undefined,
      );
      const open = this.incidentList[i];
      if (open) this.incidentList[i] = { ...open, endedAtMs: o.atMs };
    }
    const change: HealthChange = {
      endpoint: o.endpoint,
      from: before,
      to: after,
      atMs: o.atMs,
      cause: o.cause,
    };
    for (const l of this.listeners) l(change);
  }

  subscribe(listener: (change: HealthChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  incidents(): readonly Incident[] {
    return this.incidentList;
  }

  degradedHosts(): readonly string[] {
    const hosts = new Set<string>();
    for (const [name, s] of this.current) {
      const host = this.hostOf.get(name);
      if (s === 'down' && host) hosts.add(host);
    }
    return [...hosts];
  }
}
