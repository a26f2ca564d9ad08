// Predicted decode rate (tokens/s after the first token) for one request on one endpoint at its
// current load, at the quantiles its throughput objectives use: the median for the sustained floor
// (judged at the P50 of requests) and the fast end for the burst figure (5% of requests reach it).
// Pure: the model, the load and each observation are values.
//
// The model. Continuous batching runs every sequence in flight in the same engine steps, and the
// prompts being prefilled share those steps too, so the time per output token grows with the
// sequences in flight L (this request included):
//   mean gap per token = baseGapMs + gapPerSequenceMs × L        (a line in L)
//   median rate = 1000 / (mean gap × exp(−σ²/2))                   (requests' rates are log-normal)
//   quantile q of the rate = median × exp(σ × Φ⁻¹(q))
// L stands in for everything that scales with load (decode batch, prefill sharing the step); the
// line is fitted online from observed requests (their decode rate against the mean load while they
// decoded), starting from a calibration run's decode rate or the fleet file's floor read backwards
// (floor = measured / safety margin, as calibrate proposes it).
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { CalibrationFigures } from './predict.ts';

export interface DecodeModel {
  /** Mean time per output token of a request alone (ms). */
  readonly baseGapMs: number;
  /** Added to the mean gap per sequence in flight (ms). */
  readonly gapPerSequenceMs: number;
  /** σ of log(request rate / median). */
  readonly sigma: number;
  readonly observations: number;
  /** Exponentially weighted moments of (sequences in flight x, gap per token y). */
  readonly fit?: { readonly x: number; readonly y: number; readonly xx: number; readonly xy: number };
  readonly source: 'calibration' | 'fleet-file' | 'default';
}

export interface DecodePrediction {
  readonly medianTokensPerSecond: number;
  /** The slow end (5% of requests decode slower) and the fast end (5% decode faster). */
  readonly p05TokensPerSecond: number;
  readonly p95TokensPerSecond: number;
}

/** One finished request: its decode rate and the mean sequences in flight while it decoded (itself included). */
export interface DecodeObservation {
  readonly tokensPerSecond: number;
  readonly inFlight: number;
}

const Z95 = 1.6448536269514722;
/** Prior slowdown: 64 sequences in flight triple the time per token (as PRIOR_SLOWDOWN_PER_SEQUENCE for TTFT). */
export const PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE = 2 / 64;
/** σ when nothing says otherwise: the P95 request decodes ~2× the median. */
export const PRIOR_DECODE_SIGMA = Math.log(2) / Z95;
/** The line replaces the scale-only correction once loads this spread (σ, sequences) were seen. */
export const DECODE_FIT_MIN_OBSERVATIONS = 8;
export const DECODE_FIT_MIN_SPREAD = 1;
export const DECODE_SIGMA_BURN_IN = 10;
const MIN_SIGMA = 0.02;
const MAX_SIGMA = Math.log(10) / Z95;
export const DECODE_LEARNING_RATE = 0.04;

function meanGapMs(model: DecodeModel, inFlight: number): number {
  return model.baseGapMs + model.gapPerSequenceMs * Math.max(1, inFlight);
}

/** The rate a request dispatched now would decode at: `inFlight` is the others in flight, so L = inFlight + 1. */
export function predictDecode(model: DecodeModel, othersInFlight: number): DecodePrediction {
  return predictAt(model, othersInFlight + 1);
}

function predictAt(model: DecodeModel, inFlight: number): DecodePrediction {
  const medianGap = meanGapMs(model, inFlight) * Math.exp((-model.sigma * model.sigma) / 2);
  const median = 1000 / medianGap;
  return {
    medianTokensPerSecond: median,
    p05TokensPerSecond: median * Math.exp(-model.sigma * Z95),
    p95TokensPerSecond: median * Math.exp(model.sigma * Z95),
  };
}

/**
 * Fold one finished request into the model. The gap per token (1000 / rate) is linear in L, so
 * once the loads seen vary enough the line is their weighted least-squares fit; before that the
 * observation only rescales the prior line (its slope-to-base ratio kept). σ follows the spread of
 * log residuals after a burn-in. Every estimate is an exponentially weighted average (~50 requests).
 */
export function updateDecodeModel(
  model: DecodeModel,
  obs: DecodeObservation,
  rate = DECODE_LEARNING_RATE,
): DecodeModel {
  if (!(obs.tokensPerSecond > 0) || !Number.isFinite(obs.tokensPerSecond) || !(obs.inFlight >= 0))
    return model;
  const a = Math.max(rate, 1 / (model.observations + 2));
  const x = Math.max(1, obs.inFlight);
  const y = 1000 / obs.tokensPerSecond;
  const f = model.fit ?? { x, y, xx: x * x, xy: x * y };
  const fit = {
    x: f.x + a * (x - f.x),
    y: f.y + a * (y - f.y),
    xx: f.xx + a * (x * x - f.xx),
    xy: f.xy + a * (x * y - f.xy),
  };
  let baseGapMs: number;
  let gapPerSequenceMs: number;
  let { sigma } = model;
  const variance = fit.xx - fit.x * fit.x;
  if (model.observations >= DECODE_FIT_MIN_OBSERVATIONS && variance >= DECODE_FIT_MIN_SPREAD ** 2) {
    gapPerSequenceMs = Math.max(0, (fit.xy - fit.x * fit.y) / variance);
    baseGapMs = fit.y - gapPerSequenceMs * fit.x;
    if (baseGapMs < 0.1 * fit.y) {
      baseGapMs = 0.1 * fit.y;
      gapPerSequenceMs = (fit.y - baseGapMs) / fit.x;
    }
  } else {
    // One load level cannot split base from slope: scale the prior line to the mean seen.
    const scale = fit.y / (model.baseGapMs + model.gapPerSequenceMs * fit.x);
    baseGapMs = model.baseGapMs * scale;
    gapPerSequenceMs = model.gapPerSequenceMs * scale;
  }
  if (model.observations >= DECODE_SIGMA_BURN_IN) {
    const after = Math.log(
      obs.tokensPerSecond / predictAt({ ...model, baseGapMs, gapPerSequenceMs }, x).medianTokensPerSecond,
    );
    sigma = Math.min(
      MAX_SIGMA,
      Math.sqrt(Math.max(MIN_SIGMA ** 2, sigma * sigma + rate * (after * after - sigma * sigma))),
    );
  }
  return { ...model, baseGapMs, gapPerSequenceMs, sigma, fit, observations: model.observations + 1 };
}

/**
 * The starting model for a chat endpoint: the calibration run's median decode rate when there is
 * one, else the sustained floor × the safety margin (floors are proposed as measured / margin),
 * else 50 tok/s; σ from the burst figure over the sustained floor when both are set (the burst
 * figure is what the fastest 5% reach, the floor what the median reaches).
 */
export function priorDecodeModel(
  fleet: Fleet,
  endpoint: Endpoint,
  calibration?: CalibrationFigures,
): DecodeModel {
  const { sustainedTokensPerSecond: sustained, burstTokensPerSecond: burst } = endpoint.slo.throughput;
  let median: number;
  let source: DecodeModel['source'];
  if (calibration?.decodeTokensPerSecondP50 && calibration.decodeTokensPerSecondP50 > 0) {
    median = calibration.decodeTokensPerSecondP50;
    source = 'calibration';
  } else if (sustained !== undefined && sustained > 0) {
    median = sustained * fleet.calibration.safetyMargin;
    source = 'fleet-file';
  } else {
    median = 50;
    source = 'default';
  }
  const sigma =
    sustained !== undefined && burst !== undefined && burst > sustained
      ? Math.min(MAX_SIGMA, Math.log(burst / sustained) / Z95)
      : PRIOR_DECODE_SIGMA;
  // Mean gap at L = 1 such that the median rate is `median`.
  const gapAtOne = (1000 / median) * Math.exp((sigma * sigma) / 2);
  const baseGapMs = gapAtOne / (1 + PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE);
  return {
    baseGapMs,
    gapPerSequenceMs: baseGapMs * PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE,
    sigma,
    observations: 0,
    source,
  };
}
