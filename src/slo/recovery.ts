// The recovery objective: every outage over within the endpoint's recovery time. An episode
// objective, not an error budget (no SLO tool has one; see the SLO tooling reference §7).
import type { Endpoint } from '../fleet/index.ts';
import type { Incident } from '../probes/types.ts';

export type IncidentVerdict = 'within' | 'exceeded' | 'open';

export interface JudgedIncident {
  readonly incident: Incident;
  /** Until it ended, or until `nowMs` while open. */
  readonly durationMs: number;
  readonly open: boolean;
  /** `open`: still running and not yet past the recovery time; an open one past it is `exceeded`. */
  readonly verdict: IncidentVerdict;
}

export interface RecoverySummary {
  readonly endpoint: string;
  readonly recoveryMs?: number;
  readonly count: number;
  readonly within: number;
  readonly exceeded: number;
  readonly open: number;
  readonly worst?: JudgedIncident;
  /** Oldest first. */
  readonly incidents: readonly JudgedIncident[];
}

/** Incidents of `endpoint` that overlap [sinceMs, nowMs], judged against its recovery time. */
export function judgeRecovery(
  endpoint: Endpoint,
  incidents: readonly Incident[],
  range: { readonly sinceMs: number; readonly nowMs: number },
): RecoverySummary {
  const recoveryMs = endpoint.slo.recoveryMs;
  const judged = incidents
    .filter(
      (i) =>
        i.endpoint === endpoint.name &&
        // One replica of a pool down while another served is the replica's incident, not the endpoint's.
        i.replica === undefined &&
        i.startedAtMs <= range.nowMs &&
        (i.endedAtMs ?? range.nowMs) >= range.sinceMs,
    )
    .sort((a, b) => a.startedAtMs - b.startedAtMs)
    .map((incident): JudgedIncident => {
      const open = incident.endedAtMs === undefined;
      const durationMs = Math.max(0, (incident.endedAtMs ?? range.nowMs) - incident.startedAtMs);
      const late = recoveryMs !== undefined && durationMs > recoveryMs;
      return { incident, durationMs, open, verdict: late ? 'exceeded' : open ? 'open' : 'within' };
    });
  let worst: JudgedIncident | undefined;
  for (const j of judged) if (!worst || j.durationMs > worst.durationMs) worst = j;
  return {
    endpoint: endpoint.name,
    recoveryMs,
    count: judged.length,
    within: judged.filter((j) => j.verdict === 'within').length,
    exceeded: judged.filter((j) => j.verdict === 'exceeded').length,
    open: judged.filter((j) => j.open).length,
    worst,
    incidents: judged,
  };
}

/**
 * The recovery measurement in words, the same in `llm-fleet check`, the report and the dashboard:
 * '1/1 within, worst 25 s', or 'no incidents'.
 */
export function recoveryText(good: number, total: number, worstMs: number | undefined): string {
  if (total === 0) return 'no incidents';
  return `${good}/${total} within${worstMs !== undefined ? `, worst ${formatMinutes(worstMs)}` : ''}`;
}

/** '6 s', '1 min', '6 min 40 s'. */
export function formatMinutes(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
