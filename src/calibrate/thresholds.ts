// Threshold derivation, the seed's formula made exact:
//   TTFT target      = round100((measured percentile + network overhead) × safety margin)
//   throughput floor = roundStep(measured / safety margin)
// for the P95 and P99 TTFT targets each (basePercentile `same`: each from its own percentile;
// `p99`: both from P99), sustained (P50 of decode tokens/s), burst (P95 of best 1-second rates) and
// embeddings/s (P50 of batches). Throughput rounding uses the fleet module's `effectiveRoundingStep`
// so a step of 500 never erases an 80 tok/s floor; no proposal is ever rounded to zero.
import type { Calibration } from '../fleet/index.ts';
import { effectiveRoundingStep } from '../fleet/index.ts';

export interface MeasuredPercentiles {
  readonly p50?: number;
  readonly p95?: number;
  readonly p99?: number;
}

export interface ThresholdInputs {
  /** TTFT (chat) or batch latency (embeddings), ms. */
  readonly latencyMs: MeasuredPercentiles;
  /** Decode tokens/s per request (chat). */
  readonly decodeTokensPerSecond?: MeasuredPercentiles;
  /** Best 1-second rate per request (chat). */
  readonly burstTokensPerSecond?: MeasuredPercentiles;
  /** Embeddings/s per batch (embeddings). */
  readonly embeddingsPerSecond?: MeasuredPercentiles;
  readonly networkOverheadMs: number;
}

export interface DerivedValue {
  /** The proposal after rounding. */
  readonly value: number;
  /** Before rounding, for the audit trail. */
  readonly exact: number;
  /** Which measured figure it came from (`p95`, `p99`, `p50`). */
  readonly from: 'p50' | 'p95' | 'p99';
  readonly measured: number;
  readonly roundingStep: number;
  /** The formula with the numbers filled in. */
  readonly formula: string;
  /** Set when the measured figure is not exact (e.g. tokens counted as events): say so with it. */
  readonly caveat?: string;
}

export interface Proposal {
  readonly ttftP95Ms?: DerivedValue;
  readonly ttftP99Ms?: DerivedValue;
  readonly sustainedTokensPerSecond?: DerivedValue;
  readonly burstTokensPerSecond?: DerivedValue;
  readonly embeddingsPerSecond?: DerivedValue;
}

type CalibrationSettings = Pick<
  Calibration,
  | 'safetyMargin'
  | 'basePercentile'
  | 'ttftRoundingMs'
  | 'throughputRoundingTokensPerSecond'
  | 'embeddingsRoundingPerSecond'
>;

export function proposeThresholds(inputs: ThresholdInputs, c: CalibrationSettings): Proposal {
  const margin = c.safetyMargin;
  const overhead = inputs.networkOverheadMs;
  const latency = (target: 'p95' | 'p99'): DerivedValue | undefined => {
    const from = c.basePercentile === 'p99' ? 'p99' : target;
    const measured = inputs.latencyMs[from];
    if (measured === undefined) return undefined;
    const exact = (measured + overhead) * margin;
    return {
      value: roundNeverZero(exact, c.ttftRoundingMs),
      exact,
      from,
      measured,
      roundingStep: c.ttftRoundingMs,
      formula: `(${fmt(measured)} ms ${from} + ${fmt(overhead)} ms network) × ${margin}`,
    };
  };
  const floor = (
    m: MeasuredPercentiles | undefined,
    from: 'p50' | 'p95',
    requestedStep: number,
    unit: string,
  ): DerivedValue | undefined => {
    const measured = m?.[from];
    if (measured === undefined) return undefined;
    const exact = measured / margin;
    const step = effectiveRoundingStep(exact, requestedStep);
    return {
      value: roundNeverZero(exact, step),
      exact,
      from,
      measured,
      roundingStep: step,
      formula: `${fmt(measured)} ${unit} ${from} / ${margin}`,
    };
  };
  return {
    ttftP95Ms: latency('p95'),
    ttftP99Ms: latency('p99'),
    sustainedTokensPerSecond: floor(
      inputs.decodeTokensPerSecond,
      'p50',
      c.throughputRoundingTokensPerSecond,
      'tok/s',
    ),
    burstTokensPerSecond: floor(
      inputs.burstTokensPerSecond,
      'p95',
      c.throughputRoundingTokensPerSecond,
      'tok/s',
    ),
    embeddingsPerSecond: floor(inputs.embeddingsPerSecond, 'p50', c.embeddingsRoundingPerSecond, 'emb/s'),
  };
}

/**
 * Nearest multiple of `step`; a value that would round to zero keeps two significant digits instead
 * (a zero target would be met by a dead endpoint).
 */
export function roundNeverZero(value: number, step: number): number {
  const rounded = Math.round(value / step) * step;
  if (rounded > 0 || value <= 0) return Number(rounded.toPrecision(12));
  return Number(value.toPrecision(2));
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
