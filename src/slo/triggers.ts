// The seed's recalibration triggers, each with the evidence that raised it: hardware changes,
// model or server changes, sustained violations of the P95 target, and a manual mark after
// optimisation work. Which ones apply is the fleet file's `recalibration` section.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { BucketSource } from './burn-rate.ts';
import { countsIn } from './burn-rate.ts';
import type { Fingerprint, FingerprintChange } from './fingerprint.ts';
import { fingerprintChanges, hardwareDescription, latestByEndpoint } from './fingerprint.ts';

/** A person's note that an endpoint was tuned ('after optimisation work'); no endpoint = all. */
export interface RecalibrationMark {
  readonly endpoint?: string;
  readonly atMs: number;
  readonly note: string;
}

export type TriggerKind =
  'sustained-violations' | 'fingerprint-changed' | 'hardware-changed' | 'optimisation-work';

export interface RecalibrationTrigger {
  readonly kind: TriggerKind;
  readonly endpoint: string;
  /** One line a person can act on. */
  readonly evidence: string;
  /** When the evidence was seen (the window's end, the current fingerprint, the mark). */
  readonly atMs: number;
  readonly changes?: readonly FingerprintChange[];
  readonly violations?: {
    readonly bad: number;
    readonly total: number;
    readonly ratio: number;
    readonly windowMs: number;
  };
  readonly mark?: RecalibrationMark;
}

export interface TriggerInputs {
  readonly buckets: BucketSource;
  /** Fingerprints recorded by calibration runs (latest per endpoint wins). */
  readonly calibrated: readonly Fingerprint[];
  /** Fingerprints the endpoints report now (latest per endpoint wins). */
  readonly observed: readonly Fingerprint[];
  readonly marks: readonly RecalibrationMark[];
  readonly nowMs: number;
}

/** Every trigger that holds for `endpoint` now; empty when none. */
export function recalibrationTriggers(
  fleet: Fleet,
  endpoint: Endpoint,
  input: TriggerInputs,
): RecalibrationTrigger[] {
  const out: RecalibrationTrigger[] = [];
  const r = fleet.recalibration;
  const calibrated = latestByEndpoint(input.calibrated).get(endpoint.name);
  const observed = latestByEndpoint(input.observed).get(endpoint.name);

  const sv = r.sustainedViolations;
  if (endpoint.slo.ttft) {
    // The P95 objective's buckets already carry the degraded-mode adjustment per request.
    const c = countsIn(input.buckets, `${endpoint.name}-ttft-p95`, input.nowMs - sv.windowMs, input.nowMs);
    const bad = c.total - c.good;
    const ratio = c.total > 0 ? bad / c.total : 0;
    if (c.total >= sv.minRequests && ratio > sv.rate)
      out.push({
        kind: 'sustained-violations',
        endpoint: endpoint.name,
        atMs: input.nowMs,
        evidence: `${bad} of ${c.total} requests (${pct(ratio)}) over the P95 target ${endpoint.slo.ttft.p95Ms} ms in the last ${minutes(sv.windowMs)}; limit ${pct(sv.rate)} with at least ${sv.minRequests} requests`,
        violations: { bad, total: c.total, ratio, windowMs: sv.windowMs },
      });
  }

  if (r.modelChange && calibrated && observed) {
    const changes = fingerprintChanges(calibrated, observed);
    if (changes.length > 0)
      out.push({
        kind: 'fingerprint-changed',
        endpoint: endpoint.name,
        atMs: observed.atMs,
        evidence: `since calibration on ${iso(calibrated.atMs)}: ${changes.map(describeChange).join(', ')}`,
        changes,
      });
  }

  if (r.hardwareChange && calibrated?.hostHardware !== undefined) {
    const now = hardwareDescription(fleet, endpoint);
    if (now !== calibrated.hostHardware) {
      const change: FingerprintChange = {
        field: 'hostHardware',
        calibrated: calibrated.hostHardware,
        current: now,
      };
      out.push({
        kind: 'hardware-changed',
        endpoint: endpoint.name,
        atMs: input.nowMs,
        evidence: `fleet file hardware ${describeChange(change)} since calibration on ${iso(calibrated.atMs)}`,
        changes: [change],
      });
    }
  }

  if (r.optimizationWork) {
    const since = calibrated?.atMs ?? -Infinity;
    const marks = input.marks
      .filter(
        (m) =>
          (m.endpoint === undefined || m.endpoint === endpoint.name) &&
          m.atMs > since &&
          m.atMs <= input.nowMs,
      )
      .sort((a, b) => b.atMs - a.atMs);
    const mark = marks[0];
    if (mark)
      out.push({
        kind: 'optimisation-work',
        endpoint: endpoint.name,
        atMs: mark.atMs,
        evidence: `marked on ${iso(mark.atMs)}${calibrated ? ', after the last calibration' : ' (never calibrated)'}: ${mark.note}`,
        mark,
      });
  }
  return out;
}

function describeChange(c: FingerprintChange): string {
  return `${c.field} ${JSON.stringify(c.calibrated)} → ${JSON.stringify(c.current)}`;
}

function pct(ratio: number): string {
  return `${Math.round(ratio * 10_000) / 100}%`;
}

function minutes(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 60_000)} min`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}
