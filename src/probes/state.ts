// The fleet's shared up/down state machine. Active probes and the gateway's passive view (errors on
// real traffic) feed the same counters, so the router, the monitor and the dashboard agree on one
// answer. Debounced on purpose: N consecutive failures mark an endpoint down and M consecutive
// successes mark it up again, so one lost probe never flaps the state. A replica pool keeps that
// machine per replica, and the endpoint is derived from them: up while any replica is up (degraded
// when some are down), down — with an incident of its own — only once every replica is down.
import { replicasOf, type Fleet } from '../fleet/index.ts';
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
  readonly endpoint: string;
  /** Set on a pool's replica trackers. */
  readonly replica?: string;
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

const trackerKey = (endpoint: string, replica?: string): string =>
  replica === undefined ? endpoint : `${endpoint}#${replica}`;

export function createHealthState(fleet: Fleet, options: HealthStateOptions = {}): HealthStateMachine {
  const downAfter = Math.max(1, options.downAfter ?? 2);
  const upAfter = Math.max(1, options.upAfter ?? 2);
  const clock = options.clock ?? Date.now;
  // Planned endpoints (port TBD) are tracked as 'unknown' forever: they are not routable, and
  // calling them 'down' would put their host into degraded mode for nothing.
  const routable = new Set(fleet.endpoints.filter((e) => e.status === 'running').map((e) => e.name));
  const hostOf = new Map(fleet.endpoints.map((e) => [e.name, e.host]));
  const trackers = new Map<string, Tracker>();
  /** Replica ids of each pool (endpoints of two or more servers). */
  const pools = new Map<string, readonly string[]>();
  for (const e of fleet.endpoints) {
    trackers.set(e.name, { endpoint: e.name, state: 'unknown', failures: 0, successes: 0 });
    const ids = replicasOf(e).map((r) => r.id);
    if (ids.length < 2) continue;
    pools.set(e.name, ids);
    for (const id of ids)
      trackers.set(trackerKey(e.name, id), {
        endpoint: e.name,
        replica: id,
        state: 'unknown',
        failures: 0,
        successes: 0,
      });
  }
  const replicaTrackers = (endpoint: string): Tracker[] =>
    (pools.get(endpoint) ?? []).map((id) => trackers.get(trackerKey(endpoint, id)) as Tracker);
  const incidents: Incident[] = [];
  const listeners = new Set<(change: HealthChange) => void>();
  const incidentListeners = new Set<(incident: Incident) => void>();

  const resumed: Tracker[] = [];
  for (const incident of options.restore ?? []) {
    const t = trackers.get(trackerKey(incident.endpoint, incident.replica));
    if (!t) continue;
    incidents.push(incident);
    if (incident.endedAtMs === undefined && routable.has(incident.endpoint)) {
      // Resume the open incident as it was: down since its start, counting from its first failure.
      t.state = 'down';
      t.failures = downAfter;
      t.firstFailureAtMs = incident.startedAtMs;
      t.firstFailureCause = incident.cause;
      resumed.push(t);
    }
  }
  incidents.sort((a, b) => a.startedAtMs - b.startedAtMs);
  for (const t of resumed)
    t.incidentIndex = incidents.findIndex(
      (i) =>
        i.endedAtMs === undefined &&
        i.endpoint === t.endpoint &&
        i.replica === t.replica &&
        i.startedAtMs === t.firstFailureAtMs,
    );
  // A pool down as a whole was down on every replica: each must come back on its own probes.
  for (const t of resumed) {
    if (t.replica !== undefined) continue;
    for (const r of replicaTrackers(t.endpoint)) {
      if (r.state === 'down') continue;
      r.state = 'down';
      r.failures = downAfter;
      r.firstFailureAtMs = t.firstFailureAtMs;
      r.firstFailureCause = t.firstFailureCause;
    }
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

  function transition(t: Tracker, to: EndpointState, atMs: number, cause?: string): void {
    const from = t.state;
    t.state = to;
    emit({
      endpoint: t.endpoint,
      ...(t.replica !== undefined ? { replica: t.replica } : {}),
      from,
      to,
      atMs,
      ...(cause !== undefined ? { cause } : {}),
    });
  }

  function openIncident(t: Tracker, startedAtMs: number, cause: string): Incident {
    const incident: Incident = {
      endpoint: t.endpoint,
      ...(t.replica !== undefined ? { replica: t.replica } : {}),
      startedAtMs,
      cause,
    };
    incidents.push(incident);
    t.incidentIndex = incidents.length - 1;
    emitIncident(incident);
    return incident;
  }

  function closeIncident(t: Tracker, endedAtMs: number): void {
    if (t.incidentIndex !== undefined && t.incidentIndex >= 0) {
      const closed: Incident = { ...(incidents[t.incidentIndex] as Incident), endedAtMs };
      incidents[t.incidentIndex] = closed;
      emitIncident(closed);
    }
    t.incidentIndex = undefined;
    t.firstFailureAtMs = undefined;
    t.firstFailureCause = undefined;
  }

  /** One server's debounced machine (an endpoint of one server, or one replica of a pool). */
  function step(t: Tracker, o: HealthObservation): void {
    if (o.ok) {
      if (t.successes === 0) t.firstSuccessAtMs = o.atMs;
      t.successes += 1;
      t.failures = 0;
      // From unknown there is nothing to flap from: the first success is enough.
      if (t.state === 'unknown') transition(t, 'up', o.atMs);
      else if (t.state === 'down' && t.successes >= upAfter) {
        closeIncident(t, t.firstSuccessAtMs ?? o.atMs);
        transition(t, 'up', o.atMs);
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
      const incident = openIncident(
        t,
        t.firstFailureAtMs ?? o.atMs,
        t.firstFailureCause ?? o.cause ?? 'failure',
      );
      transition(t, 'down', o.atMs, incident.cause);
    }
  }

  /** A pool's own state, from its replicas': its incident spans the time no replica served. */
  function derive(t: Tracker, atMs: number): void {
    const replicas = replicaTrackers(t.endpoint);
    const up = replicas.filter((r) => r.state === 'up');
    const to: EndpointState =
      up.length > 0 ? 'up' : replicas.every((r) => r.state === 'down') ? 'down' : 'unknown';
    if (to === t.state) return;
    if (to === 'down') {
      // Down since the last replica began failing: until then another one served.
      const last = replicas.reduce((a, r) =>
        (r.firstFailureAtMs ?? atMs) > (a.firstFailureAtMs ?? atMs) ? r : a,
      );
      t.firstFailureAtMs = last.firstFailureAtMs ?? atMs;
      t.firstFailureCause = last.firstFailureCause ?? 'failure';
      const incident = openIncident(t, t.firstFailureAtMs, t.firstFailureCause);
      transition(t, 'down', atMs, incident.cause);
      return;
    }
    if (t.state === 'down') closeIncident(t, Math.min(...up.map((r) => r.firstSuccessAtMs ?? atMs)));
    transition(t, to, atMs);
  }

  function observe(o: HealthObservation): void {
    const t = trackers.get(o.endpoint);
    if (!t || !routable.has(o.endpoint)) return;
    const ids = pools.get(o.endpoint);
    if (!ids) return step(t, o);
    // An observation of the whole pool (no replica named) counts for each of its servers.
    for (const id of o.replica === undefined ? ids : ids.filter((x) => x === o.replica))
      step(trackers.get(trackerKey(o.endpoint, id)) as Tracker, o);
    derive(t, o.atMs);
  }

  const endpointTrackers = (): Array<[string, Tracker]> =>
    fleet.endpoints.map((e) => [e.name, trackers.get(e.name) as Tracker]);

  return {
    state: (endpoint) => trackers.get(endpoint)?.state ?? 'unknown',
    states: () => new Map(endpointTrackers().map(([name, t]) => [name, t.state])),
    replicaStates: (endpoint) =>
      new Map(replicaTrackers(endpoint).map((r) => [r.replica as string, r.state])),
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
      for (const [name, t] of endpointTrackers()) if (t.state === 'down') hosts.add(hostOf.get(name) ?? name);
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
