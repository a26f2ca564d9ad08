// What one active probe of one endpoint learned.

export type ProbeKind = 'health' | 'request';

export interface ProbeResult {
  readonly endpoint: string;
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
  readonly startedAtMs: number;
  /** Undefined while the incident is open. */
  readonly endedAtMs?: number;
  readonly cause: string;
}
