// What one active probe of one endpoint learned.

export type ProbeKind = 'health' | 'request';

export interface ProbeResult {
  readonly endpoint: string;
  /** The server of the endpoint's replica pool probed (absent for a single server or the pool's verdict). */
  readonly replica?: string;
  readonly kind: ProbeKind;
  readonly atMs: number;
  readonly ok: boolean;
  readonly latencyMs: number;
  /** HTTP status, when the server answered. */
  readonly status?: number;
  /** Stable cause, e.g. 'connect_refused', 'loading', 'http_503', 'timeout', 'empty_answer'. */
  readonly cause?: string;
  readonly detail: string;
}

export type EndpointState = 'up' | 'down' | 'unknown';

export interface Incident {
  readonly endpoint: string;
  /**
   * The replica of a pool that was down (the endpoint stayed up while another served). Absent for
   * the endpoint's own incidents — the only ones its recovery and availability objectives judge.
   */
  readonly replica?: string;
  readonly startedAtMs: number;
  /** Undefined while the incident is open. */
  readonly endedAtMs?: number;
  readonly cause: string;
}

/** One thing learned about an endpoint's health, from an active probe or from real traffic. */
export interface HealthObservation {
  readonly endpoint: string;
  /** Which server of a pool was seen; absent on a pool's endpoint, it counts for every replica. */
  readonly replica?: string;
  readonly ok: boolean;
  readonly atMs: number;
  readonly source: 'probe' | 'traffic';
  readonly cause?: string;
  readonly detail?: string;
}

export interface HealthChange {
  readonly endpoint: string;
  /** Set when one replica of a pool changed state (the endpoint's own changes have none). */
  readonly replica?: string;
  readonly from: EndpointState;
  readonly to: EndpointState;
  readonly atMs: number;
  readonly cause?: string;
}

/**
 * The fleet's shared up/down view. Probes and the gateway's passive view feed it; the router
 * reads it. Implemented in `state.ts` (N consecutive failures → down, M successes → up).
 */
export interface FleetHealthState {
  /** An endpoint's state; a pool is up while any replica is up and down once all are. */
  state(endpoint: string): EndpointState;
  states(): ReadonlyMap<string, EndpointState>;
  /** Each replica's own state, by replica id (empty for an endpoint of one server). */
  replicaStates(endpoint: string): ReadonlyMap<string, EndpointState>;
  observe(observation: HealthObservation): void;
  /** Called on every state change; returns an unsubscribe function. */
  subscribe(listener: (change: HealthChange) => void): () => void;
  /** Open and closed incidents, oldest first. */
  incidents(): readonly Incident[];
  /** Hosts with at least one endpoint down (degraded mode applies there). */
  degradedHosts(): readonly string[];
}

/**
 * How replicas share the probing (implemented by the shared state, src/state/): one replica
 * probes each endpoint at a time under a lease, and every replica takes in what it found.
 */
export interface ProbeCoordination {
  /** The endpoints this replica holds the probe lease of for the next `ttlMs`. */
  leases(endpoints: readonly string[], ttlMs: number): Promise<ReadonlySet<string>>;
  publishProbe(observation: Omit<HealthObservation, 'source'>): void;
  /** Other replicas' probe observations; returns an unsubscribe. */
  onProbe(listener: (observation: Omit<HealthObservation, 'source'>) => void): () => void;
}
