// What identifies the thing a calibration measured: the model, its context, the server build and
// the hardware. Calibrate records one per run; the monitor records what endpoints report now.
// A difference is a recalibration trigger.
import type { Endpoint, Fleet } from '../fleet/index.ts';

export interface Fingerprint {
  readonly endpoint: string;
  /** Model id the server reports (/v1/models, /info). */
  readonly model?: string;
  /** Context length the server reports (vLLM `max_model_len`, llama.cpp `n_ctx`, TEI `max_input_length`). */
  readonly maxModelLen?: number;
  /** Server name and version, e.g. `vllm 0.11.0`. */
  readonly serverVersion?: string;
  /** OpenAI `system_fingerprint`, when the server sends one. */
  readonly systemFingerprint?: string;
  /** The fleet file's hardware description at the time (see `hardwareDescription`). */
  readonly hostHardware?: string;
  readonly atMs: number;
}

/** Fields compared between a calibration's fingerprint and the current one, in report order. */
export const FINGERPRINT_FIELDS = ['model', 'maxModelLen', 'serverVersion', 'systemFingerprint'] as const;
export type FingerprintField = (typeof FINGERPRINT_FIELDS)[number];

export interface FingerprintChange {
  readonly field: FingerprintField | 'hostHardware';
  readonly calibrated: string | number;
  readonly current: string | number;
}

/**
 * Differences between two fingerprints. A field missing on either side is not a change (an
 * older server that reports no version has not changed version).
 */
export function fingerprintChanges(calibrated: Fingerprint, current: Fingerprint): FingerprintChange[] {
  const out: FingerprintChange[] = [];
  for (const field of FINGERPRINT_FIELDS) {
    const a = calibrated[field];
    const b = current[field];
    if (a !== undefined && b !== undefined && a !== b) out.push({ field, calibrated: a, current: b });
  }
  return out;
}

/**
 * The hardware an endpoint runs on as the fleet file describes it (host description, host
 * hardware, endpoint hardware). Calibrate stores this in `Fingerprint.hostHardware`; an edit of the
 * fleet file's hardware later shows up as a changed description.
 */
export function hardwareDescription(fleet: Fleet, endpoint: Endpoint): string {
  const host = fleet.hosts.find((h) => h.name === endpoint.host);
  return [host?.description, host?.hardware, endpoint.hardware]
    .filter((s) => s !== undefined && s !== '')
    .join('; ');
}

/** The latest fingerprint per endpoint (by `atMs`). */
export function latestByEndpoint(fingerprints: readonly Fingerprint[]): Map<string, Fingerprint> {
  const out = new Map<string, Fingerprint>();
  for (const f of fingerprints) {
    const seen = out.get(f.endpoint);
    if (!seen || f.atMs >= seen.atMs) out.set(f.endpoint, f);
  }
  return out;
}

/**
 * One calibration run as the evaluator and the report read it (calibrate writes it, the store keeps
 * it). `summary` keys: ttftP50Ms, ttftP95Ms, ttftP99Ms, decodeTokensPerSecondP50,
 * burstTokensPerSecondP95, embeddingsPerSecondP50; `proposed` keys: ttftP95Ms, ttftP99Ms,
 * sustainedTokensPerSecond, burstTokensPerSecond, embeddingsPerSecond.
 */
export interface CalibrationRunSummary {
  readonly endpoint: string;
  readonly startedAtMs: number;
  readonly finishedAtMs?: number;
  readonly iterations: number;
  readonly warmupIterations?: number;
  readonly summary: Readonly<Record<string, number>>;
  readonly proposed: Readonly<Record<string, number>>;
  /** What the endpoint reported and the fleet file's hardware when calibrated. */
  readonly fingerprint: Fingerprint;
  readonly note?: string;
}
