// Each server's batching limits, with its own defaults and versions, and the step cost model
// derived from the latency model (so a lightly loaded engine answers as the closed form says).
import type { Dialect } from '../../fleet/types.ts';
import type { LatencyModel } from '../latency.ts';
import { sigmaForP99Ratio } from '../latency.ts';
import { atLeast } from '../version.ts';
import type { EngineCost, EngineLimits } from './batch-engine.ts';

/** Settable per endpoint (fleet file `sim:`, `llm-fleet sim` flags); the rest come from the dialect. */
export interface EngineSettings {
  /** vLLM --max-num-batched-tokens, llama.cpp --batch-size (n_batch). */
  readonly maxNumBatchedTokens?: number;
  /** vLLM KV-cache capacity in tokens (rounded down to whole blocks). */
  readonly kvCacheTokens?: number;
  /** vLLM --block-size. */
  readonly blockSizeTokens?: number;
  /** mlx_lm --prefill-step-size. */
  readonly prefillChunkTokens?: number;
  /** mlx_lm --prompt-concurrency. */
  readonly maxConcurrentPrefills?: number;
  /** TEI --max-batch-tokens (embeddings batches). */
  readonly maxBatchTokens?: number;
}

/**
 * vLLM ≥ 0.8 on a GPU under 70 GiB, as the OpenAI API server (vllm/engine/arg_utils.py): 2048
 * batched tokens per step with chunked prefill (always on in the v1 engine), 256 sequences.
 */
export const VLLM_MAX_NUM_BATCHED_TOKENS = 2048;
export const VLLM_BLOCK_SIZE = 16;
/** The simulator's assumption, not vLLM's: KV room for two full context windows. */
export const KV_CACHE_CONTEXTS = 2;
/** llama-server --batch-size default (n_batch). */
export const LLAMACPP_N_BATCH = 2048;
/** mlx_lm.server ≥ 0.29.0 batches (BatchGenerator): --decode-concurrency, --prompt-concurrency, --prefill-step-size. */
export const MLX_BATCHING_SINCE = '0.29.0';
export const MLX_DECODE_CONCURRENCY = 32;
export const MLX_PROMPT_CONCURRENCY = 8;
export const MLX_PREFILL_STEP_SIZE = 2048;

/** The engine limits of one endpoint (`latency.maxNumSeqs` is the running cap for every dialect). */
export function engineLimits(
  dialect: Dialect,
  version: string,
  latency: LatencyModel,
  contextWindowTokens: number,
  settings: EngineSettings = {},
): EngineLimits {
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new RangeError(`sim engine setting ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (dialect === 'vllm') {
    const block = settings.blockSizeTokens ?? VLLM_BLOCK_SIZE;
    const kvTokens = settings.kvCacheTokens ?? KV_CACHE_CONTEXTS * contextWindowTokens;
    // vLLM refuses to start when one max_model_len sequence does not fit in the KV cache.
    if (kvTokens < contextWindowTokens) {
      throw new RangeError(
        `kvCacheTokens ${kvTokens} is below the context window ${contextWindowTokens}: vLLM would not start (max_model_len does not fit in the KV cache)`,
      );
    }
    return {
      maxNumSeqs: latency.maxNumSeqs,
      maxNumBatchedTokens: settings.maxNumBatchedTokens ?? VLLM_MAX_NUM_BATCHED_TOKENS,
      prefillChunkTokens: Infinity,
      maxConcurrentPrefills: Infinity,
      kvCacheBlocks: Math.floor(kvTokens / block),
      blockSizeTokens: block,
    };
  }
  if (dialect === 'llamacpp') {
    return {
      maxNumSeqs: latency.maxNumSeqs,
      maxNumBatchedTokens: settings.maxNumBatchedTokens ?? LLAMACPP_N_BATCH,
      prefillChunkTokens: Infinity,
      maxConcurrentPrefills: Infinity,
      kvCacheBlocks: Infinity,
      blockSizeTokens: VLLM_BLOCK_SIZE,
    };
  }
  // mlx_lm: before 0.29.0 a single-threaded HTTPServer, one request at a time; since, batched.
  const batched = atLeast(version, MLX_BATCHING_SINCE);
  return {
    maxNumSeqs: batched ? latency.maxNumSeqs : 1,
    maxNumBatchedTokens: settings.maxNumBatchedTokens ?? Infinity,
    prefillChunkTokens: settings.prefillChunkTokens ?? MLX_PREFILL_STEP_SIZE,
    maxConcurrentPrefills: batched ? (settings.maxConcurrentPrefills ?? MLX_PROMPT_CONCURRENCY) : 1,
    kvCacheBlocks: Infinity,
    blockSizeTokens: VLLM_BLOCK_SIZE,
  };
}

/**
 * The step cost from the latency model: one request decoding alone gets a gap of 1000 / decode
 * tokens/s; with all `maxNumSeqs` decoding each gap is `batchSlowdownAtFull` times that (linear in
 * between), so stepOverhead + n × decodePerToken reproduces the latency model's batch slowdown.
 */
export function engineCost(latency: LatencyModel, limits: EngineLimits): EngineCost {
  const baseMs = (1000 / latency.decodeTokensPerSecond) * latency.scale;
  const n = limits.maxNumSeqs;
  const decodeMsPerToken = n > 1 ? ((latency.batchSlowdownAtFull - 1) * baseMs) / (n - 1) : 0;
  return {
    fixedTtftMs: latency.prefillOverheadMs * latency.scale,
    stepOverheadMs: baseMs - decodeMsPerToken,
    prefillMsPerToken: latency.prefillMsPerToken * latency.scale,
    decodeMsPerToken,
    ttftSigma: sigmaForP99Ratio(latency.ttftJitterP99Ratio),
    stepSigma: sigmaForP99Ratio(latency.itlJitterP99Ratio),
  };
}
