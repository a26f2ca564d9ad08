// Predicted decode rate (tokens/s after the first token) for one request on one endpoint at its
// current load, at the quantiles its throughput objectives use: the median for the sustained floor
// (judged at the P50 of requests) and the fast end for the burst figure (5% of requests reach it).
// Pure: the model, the load and each observation are values.
//
// The model. Continuous batching runs every sequence in flight in the same engine steps, and the
// prompts arriving to be prefilled share those steps too (chunked prefill), so the time per output
// token grows with the sequences in flight L (this request included) and with the share ρ of the
// engine's time that goes to prefill while it decodes:
//   decode gap per token = baseGapMs + gapPerSequenceMs × L        (a line in L)
//   mean gap per token   = decode gap / (1 − ρ),   ρ = prompt tokens/s arriving × prefill ms/token
//   median rate = 1000 / mean gap × exp(b)
//   quantile q of the rate = median × exp(σ × Φ⁻¹(q))
// b, the median's offset from the mean gap's rate, is learned as the mean log residual (requests'
// rates are skewed, and a mix of short and long answers is not one log-normal), σ as their spread.
// ρ comes from the gateway's own count of prompt tokens dispatched lately and the TTFT model's
// prefill cost per token. The line is fitted online from observed requests (their decode rate, with
// the prefill share divided out, against the mean load while they decoded), starting from a
// calibration run's decode rate or the fleet file's floor read backwards (floor = measured / safety
// margin, as calibrate proposes it).
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { lineOf, updateMoments, updateSpread, type LineMoments } from './online-fit.ts';
import type { CalibrationFigures } from './predict.ts';

export interface DecodeModel {
  /** Mean time per output token of a request alone (ms). */
  readonly baseGapMs: number;
  /** Added to the mean gap per sequence in flight (ms). */
  readonly gapPerSequenceMs: number;
  /** σ of log(request rate / median). */
  readonly sigma: number;
  /** Mean log(observed rate / 1000 / mean gap): the median's offset from the line (0 until learned). */
  readonly logBias: number;
  readonly observations: number;
  /** Exponentially weighted moments of (sequences in flight x, gap per token y). */
  readonly fit?: LineMoments;
  readonly source: 'calibration' | 'fleet-file' | 'default';
}

export interface DecodePrediction {
  readonly medianTokensPerSecond: number;
  /** The slow end (5% of requests decode slower) and the fast end (5% decode faster). */
  readonly p05TokensPerSecond: number;
  readonly p95TokensPerSecond: number;
}

/** One finished request: its decode rate and the mean load while it decoded (itself included). */
export interface DecodeObservation {
  readonly tokensPerSecond: number;
  readonly inFlight: number;
  /** Mean share of the engine's time that went to prefill meanwhile (0 when unknown). */
  readonly prefillShare?: number;
}

/** The load a request would decode under: the others in flight and the prefill share. */
export interface DecodeLoad {
  readonly othersInFlight: number;
  readonly prefillShare?: number;
}

/** The prefill share is capped here: beyond it the engine is prefill-bound and the line means little. */
export const MAX_PREFILL_SHARE = 0.9;

/** ρ: prompt tokens arriving per second × prefill ms per token, capped. */
export function prefillShare(promptTokensPerSecond: number, prefillMsPerToken: number): number {
  const rho = (promptTokensPerSecond * prefillMsPerToken) / 1000;
  return Number.isFinite(rho) ? Math.min(MAX_PREFILL_SHARE, Math.max(0, rho)) : 0;
}

function free(share: number | undefined): number {
  return 1 - Math.min(MAX_PREFILL_SHARE, Math.max(0, share ?? 0));
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

/** The rate a request dispatched now would decode at: L = the others in flight + 1. */
export function predictDecode(model: DecodeModel, load: DecodeLoad): DecodePrediction {
  return predictAt(model, load.othersInFlight + 1, load.prefillShare);
}

function predictAt(model: DecodeModel, inFlight: number, share?: number): DecodePrediction {
  const median = (1000 * free(share) * Math.exp(model.logBias)) / meanGapMs(model, inFlight);
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
  // The decode part of the gap: what prefill took of the engine's time divided out.
  const y = (1000 / obs.tokensPerSecond) * free(obs.prefillShare);
  const fit = updateMoments(model.fit, x, y, a);
  let baseGapMs: number;
  let gapPerSequenceMs: number;
  let { sigma } = model;
  const line =
    model.observations >= DECODE_FIT_MIN_OBSERVATIONS ? lineOf(fit, DECODE_FIT_MIN_SPREAD) : undefined;
  if (line) {
    gapPerSequenceMs = line.slope;
    baseGapMs = line.intercept;
  } else {
    // One load level cannot split base from slope: scale the prior line to the mean seen.
    const scale = fit.y / (model.baseGapMs + model.gapPerSequenceMs * fit.x);
    baseGapMs = model.baseGapMs * scale;
    gapPerSequenceMs = model.gapPerSequenceMs * scale;
  }
  // The residual against the updated line (before the offset): the offset is its mean, σ its spread.
  const residual = Math.log(
    obs.tokensPerSecond /
      predictAt({ ...model, baseGapMs, gapPerSequenceMs, logBias: 0 }, x, obs.prefillShare)
        .medianTokensPerSecond,
  );
  const logBias = model.logBias + a * (residual - model.logBias);
  if (model.observations >= DECODE_SIGMA_BURN_IN) {
    const after = residual - logBias;
    sigma = updateSpread(sigma, after, rate, MIN_SIGMA, MAX_SIGMA);
  }
  return {
    ...model,
    baseGapMs,
    gapPerSequenceMs,
    sigma,
    logBias,
    fit,
    observations: model.observations + 1,
  };
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
  // Gap at L = 1 such that the median rate is `median` (no offset until requests are seen).
  const gapAtOne = 1000 / median;
  const baseGapMs = gapAtOne / (1 + PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE);
  return {
    baseGapMs,
    gapPerSequenceMs: baseGapMs * PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE,
    sigma,
    logBias: 0,
    observations: 0,
    source,
  };
}
