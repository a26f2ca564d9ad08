// The latency model: TTFT = queueing + (prefill overhead + uncached prompt tokens × per-token
// prefill time) × a log-normal jitter with median 1, so every TTFT percentile at single-request
// load is known in closed form (ttftQuantileMs) and a benchmark can compare what it measured with
// the truth. Decode runs at a per-request rate (log-normal around the median) with per-token
// log-normal jitter, slowing as more sequences share the batch.

export interface LatencyModel {
  /** Fixed part of the time to first token (scheduling, first forward pass). */
  readonly prefillOverheadMs: number;
  readonly prefillMsPerToken: number;
  /** P99 / median of the TTFT jitter factor (log-normal, median 1). 1 = no jitter. */
  readonly ttftJitterP99Ratio: number;
  /** Median decode rate of one sequence running alone. */
  readonly decodeTokensPerSecond: number;
  /** P99 / median of the per-request decode-rate factor. */
  readonly decodeRateJitterP99Ratio: number;
  /** P99 / median of each inter-token gap around the request's mean gap. */
  readonly itlJitterP99Ratio: number;
  /** Sequences decoded at once (vLLM max-num-seqs, llama.cpp slots); more requests wait in a queue. */
  readonly maxNumSeqs: number;
  /** Factor on each inter-token gap when all maxNumSeqs run (1 = batching is free). */
  readonly batchSlowdownAtFull: number;
  /** Prefix-cache granularity (vLLM block size); 0 turns the prefix cache off. */
  readonly prefixCacheBlockTokens: number;
  /** Embeddings: fixed time per batch, and the time each input adds. */
  readonly embeddingOverheadMs: number;
  readonly embeddingMsPerInput: number;
  /** Multiplies every duration (and divides rates): 0.01 makes a test run 100× faster. */
  readonly scale: number;
}

/** A plain server when nothing is known: 300 ms TTFT at 512 prompt tokens, 50 tok/s. */
export const DEFAULT_LATENCY: LatencyModel = {
  prefillOverheadMs: 200,
  prefillMsPerToken: 0.2,
  ttftJitterP99Ratio: 2,
  decodeTokensPerSecond: 50,
  decodeRateJitterP99Ratio: 1.15,
  itlJitterP99Ratio: 1.5,
  maxNumSeqs: 256,
  batchSlowdownAtFull: 3,
  prefixCacheBlockTokens: 16,
  embeddingOverheadMs: 1.5,
  embeddingMsPerInput: 0.15,
  scale: 1,
};

export function latencyModel(partial: Partial<LatencyModel> = {}): LatencyModel {
  const model = { ...DEFAULT_LATENCY, ...partial };
  if (model.ttftJitterP99Ratio < 1 || model.decodeRateJitterP99Ratio < 1 || model.itlJitterP99Ratio < 1) {
    throw new RangeError('latency jitter ratios (P99 / median) must be ≥ 1');
  }
  if (!(model.decodeTokensPerSecond > 0) || !(model.scale > 0) || !(model.maxNumSeqs >= 1)) {
    throw new RangeError('decodeTokensPerSecond and scale must be > 0 and maxNumSeqs ≥ 1');
  }
  return model;
}

const Z99 = 2.3263478740408408;

/** σ of a log-normal factor with median 1 whose P99 is `p99Ratio`. */
export function sigmaForP99Ratio(p99Ratio: number): number {
  return Math.log(p99Ratio) / Z99;
}

/** Median TTFT at single-request load, without jitter (ms, scaled). */
export function ttftMedianMs(model: LatencyModel, promptTokens: number, cachedPromptTokens = 0): number {
  const uncached = Math.max(0, promptTokens - cachedPromptTokens);
  return (model.prefillOverheadMs + uncached * model.prefillMsPerToken) * model.scale;
}

/**
 * Closed-form TTFT quantile (server side, single-request load, no queueing): median × exp(σ·Φ⁻¹(q)).
 * `quantile` in (0, 1), e.g. 0.95.
 */
export function ttftQuantileMs(
  model: LatencyModel,
  promptTokens: number,
  quantile: number,
  cachedPromptTokens = 0,
): number {
  return (
    ttftMedianMs(model, promptTokens, cachedPromptTokens) *
    Math.exp(sigmaForP99Ratio(model.ttftJitterP99Ratio) * normalQuantile(quantile))
  );
}

/** Median time of one embeddings batch (ms, scaled). */
export function embeddingBatchMedianMs(model: LatencyModel, inputs: number): number {
  return (model.embeddingOverheadMs + inputs * model.embeddingMsPerInput) * model.scale;
}

/** Mean inter-token gap for a sequence at the given batch occupancy (ms, scaled). */
export function meanItlMs(model: LatencyModel, running: number, rateFactor = 1): number {
  const share = model.maxNumSeqs > 1 ? Math.min(1, Math.max(0, (running - 1) / (model.maxNumSeqs - 1))) : 0;
  const slowdown = 1 + (model.batchSlowdownAtFull - 1) * share;
  return ((1000 / model.decodeTokensPerSecond) * slowdown * model.scale) / rateFactor;
}

/** Standard normal quantile Φ⁻¹(p) (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`quantile must be in (0, 1), got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/** exp(σ·N(0,1)) from a uniform source (Box–Muller): a log-normal factor with median 1. */
export function logNormalFactor(rand: () => number, sigma: number): number {
  if (sigma === 0) return 1;
  const u1 = Math.max(rand(), Number.MIN_VALUE);
  const u2 = rand();
  return Math.exp(sigma * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}
