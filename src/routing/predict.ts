// Predicted time to first token for one request on one endpoint at its current load, at the
// quantiles its targets use (P95, P99). Pure: the model's parameters, the load and the request are
// values; the online correction is a pure update from one observation to the next parameters.
//
// The model. At no load an endpoint's TTFT for N prompt tokens is log-normal around a median
//   base(N) = overheadMs + N × prefillMsPerToken
// (the same shape calibrate measures: a fixed part plus prefill). Under load three things add up:
//   - prompt tokens dispatched ahead of it and still waiting for prefill (W) are prefilled first,
//   - every sequence in flight (L) decodes in each engine step its prefill shares (continuous
//     batching, chunked prefill): each step costs loadMsPerSequence more per sequence, and the
//     prefill of N + W tokens takes steps(N + W) = max(1, (N + W) / STEP_TOKENS) of them,
//   - beyond the engine's slots, the request waits for one: (L − slots + 1) / slots × serviceMs.
//   median = correction × (base(N) + W × prefillMsPerToken) + L × steps × loadMsPerSequence + slotWaitMs
// The load term is additive: a 4,000-token prompt is not slowed four times as much as a 1,000-token
// one by the same batch (both fit one or two steps) — the multiplicative factor used before made the
// predictor pessimistic for large prompts under load, and shed requests an endpoint could serve.
//   quantile q = median × exp(σ × Φ⁻¹(q))
// `correction` (idle scale), `loadMsPerSequence`, σ and `serviceMs` are learned online from
// observed requests (updateTtftModel); the rest comes from calibration or the fleet file.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { lineOf, updateMoments, updateSpread, type LineMoments } from './online-fit.ts';

export interface TtftModel {
  readonly overheadMs: number;
  readonly prefillMsPerToken: number;
  /** σ of log(TTFT / median) (log-normal jitter). */
  readonly sigma: number;
  /** Multiplies the idle median (online: observed / predicted at low load). */
  readonly correction: number;
  /** Median grows by this much (ms) per sequence in flight, per engine step of its prefill. */
  readonly loadMsPerSequence: number;
  /** Mean time a request holds a sequence slot (TTFT + decode), for the wait beyond the slots. */
  readonly serviceMs: number;
  /** Observations folded in so far. */
  readonly observations: number;
  /**
   * Exponentially weighted moments of (prompt tokens x, load-free TTFT y) over observed requests:
   * once prompt sizes vary enough, overhead and per-token cost are their least-squares line.
   */
  readonly fit?: LineMoments;
  /** Where the idle figures came from. */
  readonly source: 'calibration' | 'fleet-file' | 'default';
}

/** Load as the predictor needs it: what is dispatched and not done, on one endpoint (or replica). */
export interface LoadFigures {
  /** Sequences in flight (running or waiting in the engine). */
  readonly inFlight: number;
  /** Prompt tokens dispatched and still waiting for their first token. */
  readonly prefillWaitingTokens: number;
  /** Sequences the engine runs at once (vLLM max-num-seqs, llama.cpp slots); undefined = no limit known. */
  readonly slots?: number;
}

export interface TtftPrediction {
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
}

const Z95 = 1.6448536269514722;
const Z99 = 2.3263478740408408;
/** Without a measurement, at least this share of the idle TTFT is fixed overhead. */
export const PRIOR_OVERHEAD_SHARE = 0.5;
/** Prefill speed assumed until measured (a mid-size model on one GPU). */
export const PRIOR_PREFILL_TOKENS_PER_SECOND = 5000;
/** σ when nothing was measured: P99 / median ≈ 2 (the seed's targets put P99 at ~2× P95). */
export const PRIOR_SIGMA = Math.log(2) / Z99;
/** Prior slowdown: a batch of 64 sequences triples the time to first token of a calibration-sized prompt. */
export const PRIOR_SLOWDOWN_PER_SEQUENCE = 2 / 64;
/**
 * Prompt tokens one engine step prefills: vLLM's max_num_batched_tokens and llama-server's
 * --batch-size default (2048); neither is exposed to a client, so the default is assumed.
 */
export const STEP_TOKENS = 2048;
/** The line fit replaces the prior once this many requests of prompt sizes this spread (σ, tokens) were seen. */
export const FIT_MIN_OBSERVATIONS = 8;
export const FIT_MIN_SPREAD_TOKENS = 100;
/** Observations before σ is learned, and its bounds (P99/median between ×1.1 and ×10). */
export const SIGMA_BURN_IN = 10;
const MIN_SIGMA = Math.log(1.1) / 2.3263478740408408;
const MAX_SIGMA = Math.log(10) / 2.3263478740408408;
/** Weight of one observation in the online estimates (≈ the last 50 requests). */
export const LEARNING_RATE = 0.04;

/** Median TTFT at idle for N prompt tokens. */
export function idleMedianMs(model: TtftModel, promptTokens: number): number {
  return model.correction * (model.overheadMs + promptTokens * model.prefillMsPerToken);
}

function slotWaitMs(model: TtftModel, load: LoadFigures): number {
  if (load.slots === undefined || load.inFlight < load.slots) return 0;
  return ((load.inFlight - load.slots + 1) / load.slots) * model.serviceMs;
}

function runningOf(load: LoadFigures): number {
  return load.slots === undefined ? load.inFlight : Math.min(load.inFlight, load.slots);
}

/** Sequence-steps the request's prefill shares with the batch: L × steps(N + W). */
function loadSteps(load: LoadFigures, promptTokens: number): number {
  return runningOf(load) * Math.max(1, (promptTokens + load.prefillWaitingTokens) / STEP_TOKENS);
}

export function predictTtft(model: TtftModel, load: LoadFigures, promptTokens: number): TtftPrediction {
  const prefillMs =
    model.correction *
    (model.overheadMs + (promptTokens + load.prefillWaitingTokens) * model.prefillMsPerToken);
  const medianMs =
    prefillMs + loadSteps(load, promptTokens) * model.loadMsPerSequence + slotWaitMs(model, load);
  return {
    medianMs,
    p95Ms: medianMs * Math.exp(model.sigma * Z95),
    p99Ms: medianMs * Math.exp(model.sigma * Z99),
  };
}

/** One request as it went: the load it was dispatched into, and its TTFT at the server. */
export interface TtftObservation {
  readonly promptTokens: number;
  readonly load: LoadFigures;
  readonly ttftMs: number;
  /** How long it held its slot, first byte to last (optional: non-streaming failures have none). */
  readonly serviceMs?: number;
}

/**
 * Fold one observation into the model. Near idle (≤ 1 other sequence) it corrects the idle scale;
 * under load it estimates the slowdown per sequence from what is left once the idle part is
 * divided out. σ follows the spread of log residuals. Every estimate is an exponentially weighted
 * average, so old conditions fade within ~50 requests and one outlier moves little.
 */
export function updateTtftModel(model: TtftModel, obs: TtftObservation, rate = LEARNING_RATE): TtftModel {
  if (!(obs.ttftMs > 0) || !Number.isFinite(obs.ttftMs)) return model;
  const predicted = predictTtft(model, obs.load, obs.promptTokens).medianMs;
  const residual = Math.log(obs.ttftMs / predicted);
  // Early on, learn faster: the first observations replace the prior instead of nudging it.
  const a = Math.max(rate, 1 / (model.observations + 2));
  let { correction, loadMsPerSequence, sigma, serviceMs } = model;
  const running = runningOf(obs.load);
  const steps = loadSteps(obs.load, obs.promptTokens);
  let { overheadMs, prefillMsPerToken } = model;
  // The load-free part of this TTFT (slot wait and the batch's share taken off), for the line fit.
  const x = obs.promptTokens + obs.load.prefillWaitingTokens;
  const y = Math.max(0, obs.ttftMs - slotWaitMs(model, obs.load) - steps * model.loadMsPerSequence);
  const fit = updateMoments(model.fit, x, y, a);
  const line = model.observations >= FIT_MIN_OBSERVATIONS ? lineOf(fit, FIT_MIN_SPREAD_TOKENS) : undefined;
  if (line) {
    prefillMsPerToken = line.slope;
    overheadMs = line.intercept;
    correction = 1;
  } else if (running <= 1) {
    correction = Math.exp(Math.log(correction) + a * residual);
  }
  if (running > 1) {
    const idle =
      model.correction *
      (model.overheadMs + (obs.promptTokens + obs.load.prefillWaitingTokens) * model.prefillMsPerToken);
    const queued = Math.max(0, obs.ttftMs - slotWaitMs(model, obs.load));
    const observedMs = Math.max(0, (queued - idle) / steps);
    loadMsPerSequence = loadMsPerSequence + a * (observedMs - loadMsPerSequence);
  }
  // The spread is learned once the scale has settled (burn-in), from residuals after this update,
  // at the plain rate: the first residuals measure the prior's error, not the server's jitter.
  if (model.observations >= SIGMA_BURN_IN) {
    const after = Math.log(
      obs.ttftMs /
        predictTtft(
          { ...model, overheadMs, prefillMsPerToken, correction, loadMsPerSequence },
          obs.load,
          obs.promptTokens,
        ).medianMs,
    );
    sigma = updateSpread(sigma, after, rate, MIN_SIGMA, MAX_SIGMA);
  }
  if (obs.serviceMs !== undefined && obs.serviceMs > 0)
    serviceMs = serviceMs + a * (obs.serviceMs - serviceMs);
  return {
    ...model,
    overheadMs,
    prefillMsPerToken,
    correction,
    loadMsPerSequence,
    sigma,
    serviceMs,
    fit,
    observations: model.observations + 1,
  };
}

/** What a calibration run measured for an endpoint (the store's summary figures). */
export interface CalibrationFigures {
  readonly promptTokens: number;
  readonly ttftP50Ms: number;
  readonly ttftP99Ms?: number;
  readonly decodeTokensPerSecondP50?: number;
  readonly networkOverheadMs?: number;
}

/** Typical completion used for the service time until requests are observed. */
const PRIOR_COMPLETION_TOKENS = 256;

/**
 * The starting model for an endpoint: from its latest calibration when there is one (median and
 * spread measured at the calibration prompt size), else from its fleet-file targets — the seed's
 * formula (target = measured P95 × safety margin) read backwards gives the idle P95.
 */
export function priorTtftModel(
  fleet: Fleet,
  endpoint: Endpoint,
  calibration?: CalibrationFigures,
): TtftModel {
  const decode =
    calibration?.decodeTokensPerSecondP50 ?? endpoint.slo.throughput.sustainedTokensPerSecond ?? 50;
  let medianMs: number;
  let promptTokens: number;
  let sigma = PRIOR_SIGMA;
  let source: TtftModel['source'];
  if (calibration && calibration.ttftP50Ms > 0) {
    medianMs = calibration.ttftP50Ms;
    promptTokens = calibration.promptTokens;
    if (calibration.ttftP99Ms && calibration.ttftP99Ms > calibration.ttftP50Ms)
      sigma = Math.log(calibration.ttftP99Ms / calibration.ttftP50Ms) / Z99;
    source = 'calibration';
  } else if (endpoint.slo.ttft) {
    const idleP95 = endpoint.slo.ttft.p95Ms / fleet.calibration.safetyMargin;
    medianMs = idleP95 / Math.exp(sigma * Z95);
    promptTokens = fleet.calibration.promptTokens;
    source = 'fleet-file';
  } else {
    medianMs = 300;
    promptTokens = fleet.calibration.promptTokens;
    source = 'default';
  }
  // One prompt size cannot split overhead from prefill: assume prefill at PRIOR_PREFILL_TOKENS_PER_SECOND,
  // at most half the measured median; the rest is overhead.
  const prefillMsPerToken = Math.min(
    (medianMs * (1 - PRIOR_OVERHEAD_SHARE)) / Math.max(1, promptTokens),
    1000 / PRIOR_PREFILL_TOKENS_PER_SECOND,
  );
  return {
    overheadMs: medianMs - prefillMsPerToken * promptTokens,
    prefillMsPerToken,
    sigma,
    correction: 1,
    loadMsPerSequence: PRIOR_SLOWDOWN_PER_SEQUENCE * medianMs,
    serviceMs: medianMs + (PRIOR_COMPLETION_TOKENS * 1000) / decode,
    observations: 0,
    source,
  };
}
