// The fleet's shared up/down state machine. Active probes and the gateway's passive view (errors on
// real traffic) feed the same counters, so the router, the monitor and the dashboard agree on one
// answer. Debounced on purpose: N consecutive failures mark an endpoint down and M consecutive
// successes mark it up again, so one lost probe never flaps the state.
import type { Fleet } from '../fleet/index.ts';
import type { EndpointState, FleetHealthState, HealthChange, HealthObservation, Incident } from './types.ts';

export interface HealthStateOptions {
  /** Consecutive failures that mark an up (or unknown) endpoint down. Default 2. */
  readonly downAfter?: number;
  /** Consecutive successes that mark a down endpoint up. Default 2. */
  readonly upAfter?: number;
  /** Clock for `downForMs` (tests pass their own). */
  readonly clock?: () => number;
  /** Incidents from the store: an open one resumes as 'down' (restart mid-incident). */
  readonly restore?: readonly Incident[];
}

/** The shared interface plus what the monitor and the store need. */
export interface HealthStateMachine extends FleetHealthState {
  /** How long the endpoint has been down in its current streak (0 when not down). */
  downForMs(endpoint: string, nowMs?: number): number;
  /** The open incident of an endpoint, if it is down. */
  openIncident(endpoint: string): Incident | undefined;
  /** Called when an incident opens or closes (the store persists it). Returns an unsubscribe. */
  onIncident(listener: (incident: Incident) => void): () => void;
}

interface Tracker {
  state: EndpointState;
  failures: number;
  successes: number;
  /** First failure of the current failure streak: an incident starts there, not at detection. */
  firstFailureAtMs?: number;
  firstFailureCause?: string;
  /** First success of the current success streak: an incident ends there. */
  firstSuccessAtMs?: number;
  incidentIndex?: number;
}

export function createHealthState(fleet: Fleet, options: HealthStateOptions = {}): HealthStateMachine {
  const downAfter = Math.max(1, options.downAfter ?? 2);
  const upAfter = Math.max(1, options.upAfter ?? 2);
  const clock = options.clock ?? Date.now;
  // Planned endpoints (port TBD) are tracked as 'unknown' forever: they are not routable, and
  // calling them 'down' would put their host into degraded mode for nothing.
  const routable = new Set(fleet.endpoints.filter((e) => e.status === 'running').map((e) => e.name));
  const hostOf = new Map(fleet.endpoints.map((e) => [e.name, e.host]));
  const trackers = new Map<string, Tracker>();
  for (const e of fleet.endpoints) trackers.set(e.name, { state: 'unknown', failures: 0, successes: 0 });
  const incidents: Incident[] = [];
  const listeners = new Set<(change: HealthChange) => void>();
  const incidentListeners = new Set<(incident: Incident) => void>();

  for (const incident of options.restore ?? []) {
    const t = trackers.get(incident.endpoint);
    if (!t) continue;
    incidents.push(incident);
    if (incident.endedAtMs === undefined && routable.has(incident.endpoint)) {
      // Resume the open incident as it was: down since its start, counting from its first failure.
      t.state = 'down';
      t.failures = downAfter;
      t.firstFailureAtMs = incident.startedAtMs;
      t.firstFailureCause = incident.cause;
      t.incidentIndex = incidents.length - 1;
    }
  }
  incidents.sort((a, b) => a.startedAtMs - b.startedAtMs);
  for (const t of trackers.values()) {
    if (t.incidentIndex === undefined) continue;
    const open = incidents.findIndex(
      (i) => i.endedAtMs === undefined && i.startedAtMs === t.firstFailureAtMs,
    );
    t.incidentIndex = open;
  }

  function emit(change: HealthChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch {
        // A listener's bug must not stop the state machine (the router depends on it).
      }
    }
  }

  function emitIncident(incident: Incident): void {
    for (const listener of incidentListeners) {
      try {
        listener(incident);
      } catch {
        // As above.
      }
    }
  }

  function transition(name: string, t: Tracker, to: EndpointState, atMs: number, cause?: string): void {
    const from = t.state;
    t.state = to;
    emit({ endpoint: name, from, to, atMs, ...(cause !== undefined ? { cause } : {}) });
  }

  function observe(o: HealthObservation): void {
    const t = trackers.get(o.endpoint);
    if (!t || !routable.has(o.endpoint)) return;
    if (o.ok) {
      if (t.successes === 0) t.firstSuccessAtMs = o.atMs;
      t.successes += 1;
      t.failures = 0;
      // From unknown there is nothing to flap from: the first success is enough.
      if (t.state === 'unknown') transition(o.endpoint, t, 'up', o.atMs);
      else if (t.state === 'down' && t.successes >= upAfter) {
        const endedAtMs = t.firstSuccessAtMs ?? o.atMs;
        if (t.incidentIndex !== undefined && t.incidentIndex >= 0) {
          const open = incidents[t.incidentIndex] as Incident;
          const closed: Incident = { ...open, endedAtMs };
          incidents[t.incidentIndex] = closed;
          emitIncident(closed);
        }
        t.incidentIndex = undefined;
        t.firstFailureAtMs = undefined;
        t.firstFailureCause = undefined;
        transition(o.endpoint, t, 'up', o.atMs);
      }
      return;
    }
    if (t.failures === 0) {
      t.firstFailureAtMs = o.atMs;
      t.firstFailureCause = o.cause ?? 'failure';
    }
    t.failures += 1;
    t.successes = 0;
    t.firstSuccessAtMs = undefined;
    if (t.state !== 'down' && t.failures >= downAfter) {
      const incident: Incident = {
        endpoint: o.endpoint,
        startedAtMs: t.firstFailureAtMs ?? o.atMs,
        cause: t.firstFailureCause ?? o.cause ?? 'failure',
      };
      incidents.push(incident);
      t.incidentIndex = incidents.length - 1;
      emitIncident(incident);
      transition(o.endpoint, t, 'down', o.atMs, incident.cause);
    }
  }

  return {
    state: (endpoint) => trackers.get(endpoint)?.state ?? 'unknown',
    states: () => new Map([...trackers].map(([name, t]) => [name, t.state])),
    observe,
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    onIncident(listener) {
      incidentListeners.add(listener);
      return () => void incidentListeners.delete(listener);
    },
    incidents: () => [...incidents],
    degradedHosts() {
      const hosts = new Set<string>();
      for (const [name, t] of trackers) if (t.state === 'down') hosts.add(hostOf.get(name) ?? name);
      return [...hosts];
    },
    downForMs(endpoint, nowMs = clock()) {
      const t = trackers.get(endpoint);
      if (!t || t.state !== 'down' || t.firstFailureAtMs === undefined) return 0;
      return Math.max(0, nowMs - t.firstFailureAtMs);
    },
    openIncident(endpoint) {
      const t = trackers.get(endpoint);
      if (!t || t.incidentIndex === undefined || t.incidentIndex < 0) return undefined;
      return incidents[t.incidentIndex];
    },
  };
}
