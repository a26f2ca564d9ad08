// A simulated fleet: one loopback simulator per endpoint of a fleet file, with latency defaults
// derived from each endpoint's own SLO figures (so the demo fleet behaves like the seed says the
// real one does), the same seed everywhere (a fallback continues the same answer), and the Fleet
// rewritten so every endpoint's url points at its simulator.
import { replicasOf, type Endpoint, type Fleet } from '../fleet/types.ts';
import type { SimEndpointOptions, SimServer } from './endpoint.ts';
import { startSimEndpoint } from './endpoint.ts';
import { FleetError } from '../errors.ts';
import type { FaultSpec } from './faults.ts';
import { parseFaults } from './faults.ts';
import type { LatencyModel } from './latency.ts';
import { sigmaForP99Ratio } from './latency.ts';
import type { EngineSettings } from './engine/engine-config.ts';
import { MLX_DECODE_CONCURRENCY } from './engine/engine-config.ts';

export interface SimFleet {
  readonly endpoints: ReadonlyMap<string, SimServer>;
  /**
   * Every simulated server of each endpoint: one, or `replicas[name]` independent ones (each with its
   * own engine, KV cache and prefix cache; `endpoints` and the rewritten url name the first).
   */
  readonly replicas: ReadonlyMap<string, readonly SimServer[]>;
  /** Env var → loopback URL (`LLM_CODER_URL` → `http://127.0.0.1:…`). */
  readonly env: Record<string, string>;
  /** The same Fleet with every simulated endpoint's url rewritten to its loopback sim. */
  readonly fleet: Fleet;
  close(): Promise<void>;
}

export interface SimFleetOptions {
  /** Endpoint names to simulate (default: every routable one). */
  only?: string[];
  /** Shared by every endpoint (default 0), so fallbacks continue the same answers. */
  seed?: number;
  /** Also simulate endpoints whose status is `planned` (they become running in the returned fleet). */
  includePlanned?: boolean;
  /** Multiplies every simulated duration (0.01 = 100× faster, for tests). */
  latencyScale?: number;
  /** Faults per endpoint name, applied at start. */
  faults?: Record<string, FaultSpec[]>;
  /** Independent simulated servers per endpoint name (default 1), for replica pools. */
  replicas?: Record<string, number>;
  /** Fixed ports per endpoint name (default: ephemeral). */
  ports?: Record<string, number>;
}

/** Prompt size the TTFT defaults are stated for (the seed's calibration prompt: 512 tokens). */
const REFERENCE_PROMPT_TOKENS = 512;
/** Simulated P95 TTFT at the reference prompt, as a share of the endpoint's P95 target. */
const TTFT_P95_SHARE_OF_TARGET = 0.4;
const TTFT_P99_RATIO = 2;
/**
 * Share of the reference TTFT that is fixed overhead; the rest scales with prompt tokens. At 0.85
 * the coder prefills ~7,000 tokens/s: a 4K-token prompt still has TTFT P95 ≈ 1.6 s (under its 2 s
 * target) and a 40K-token prompt takes ~6 s, in the range of a 30B MoE on one RTX 5090.
 */
const PREFILL_OVERHEAD_SHARE = 0.85;
const Z95 = 1.6448536269514722;
/** Median simulated embeddings batch time as a share of the batch time the embeddings/s floor allows. */
const EMBEDDING_BATCH_SHARE_OF_FLOOR = 0.4;
/** Median decode rate of a request running alone, relative to the sustained floor (no burst figure). */
const DECODE_ALONE_OVER_SUSTAINED = 1.3;
/**
 * A request decoding alone runs at 1.1 × the burst figure: the burst objective (5% of requests reach
 * it in their best second) is met by a lightly loaded endpoint, as a real one's solo requests do.
 */
const DECODE_ALONE_OVER_BURST = 1.1;
/** Requests differ little in speed at one batch width (prompt length, sampling): P99 / median 1.1. */
const DECODE_RATE_JITTER_P99_RATIO = 1.1;
/**
 * Sequences decoding at once when each one's rate has fallen to the sustained floor (the batch
 * widens, every step reads the weights once more per sequence's KV): vLLM on one GPU at 16, mlx_lm
 * at 8, llama.cpp when all its slots are busy. Below it the floor holds; above it, load costs the
 * floor, which is what SLO-aware routing has to see coming.
 */
export function decodeFloorSequences(dialect: Endpoint['dialect'], maxNumSeqs: number): number {
  const n = dialect === 'vllm' ? 16 : dialect === 'mlx' ? 8 : maxNumSeqs;
  return Math.max(1, Math.min(n, maxNumSeqs));
}

/** Latency defaults for one endpoint from its SLO figures (baseSlo: before environment profiles). */
export function latencyForEndpoint(endpoint: Endpoint): Partial<LatencyModel> {
  const slo = endpoint.baseSlo;
  const out: { -readonly [K in keyof LatencyModel]?: LatencyModel[K] } = {
    ttftJitterP99Ratio: TTFT_P99_RATIO,
    // vLLM's max_num_seqs on a GPU under 70 GiB, llama-server's --parallel 4, mlx_lm's
    // --decode-concurrency; `sim: { maxNumSeqs }` in the fleet file overrides.
    maxNumSeqs:
      endpoint.sim?.maxNumSeqs ??
      (endpoint.dialect === 'vllm' ? 256 : endpoint.dialect === 'llamacpp' ? 4 : MLX_DECODE_CONCURRENCY),
  };
  const p95 = slo.ttft?.p95Ms;
  if (endpoint.kind === 'embeddings') {
    const perSecond = slo.throughput.embeddingsPerSecond ?? 2000;
    const batch = slo.batchSize ?? endpoint.maxBatchSize ?? 32;
    // The batch's compute at 40% of the floor's time, as TTFT P95 sits at 40% of its target: a
    // client's per-batch rate also pays for moving 32 × 4096 floats (~0.7 MB base64, 1.5 MB as
    // JSON numbers) through the gateway, which at the floor's own 6.4 ms alone would always miss it.
    const batchMs = (EMBEDDING_BATCH_SHARE_OF_FLOOR * (batch * 1000)) / perSecond;
    out.embeddingMsPerInput = (0.75 * batchMs) / batch;
    out.embeddingOverheadMs = 0.25 * batchMs;
    return out;
  }
  if (p95 !== undefined) {
    const median = (p95 * TTFT_P95_SHARE_OF_TARGET) / Math.exp(sigmaForP99Ratio(TTFT_P99_RATIO) * Z95);
    out.prefillOverheadMs = median * PREFILL_OVERHEAD_SHARE;
    out.prefillMsPerToken = (median * (1 - PREFILL_OVERHEAD_SHARE)) / REFERENCE_PROMPT_TOKENS;
  }
  const { sustainedTokensPerSecond: sustained, burstTokensPerSecond: burst } = slo.throughput;
  if (sustained !== undefined) {
    // The rate falls with the batch's width, not by luck of the draw: alone a request decodes at
    // (a little over) the burst figure, and the gap per token grows linearly with the sequences
    // decoding until, at decodeFloorSequences of them, it is the sustained floor's.
    const alone =
      burst !== undefined ? burst * DECODE_ALONE_OVER_BURST : sustained * DECODE_ALONE_OVER_SUSTAINED;
    out.decodeTokensPerSecond = alone;
    out.decodeRateJitterP99Ratio = DECODE_RATE_JITTER_P99_RATIO;
    const n = out.maxNumSeqs ?? 1;
    const floorAt = decodeFloorSequences(endpoint.dialect, n);
    if (n > 1 && floorAt > 1)
      out.batchSlowdownAtFull = 1 + ((alone / sustained - 1) * (n - 1)) / (floorAt - 1);
  }
  return out;
}

/** The engine settings the fleet file sets for this endpoint (`sim:`). */
export function engineForEndpoint(e: Endpoint): EngineSettings {
  const sim = e.sim;
  return {
    maxNumBatchedTokens: sim?.maxNumBatchedTokens,
    kvCacheTokens: sim?.kvCacheTokens,
    blockSizeTokens: sim?.blockSizeTokens,
    prefillChunkTokens: sim?.prefillChunkTokens,
    maxConcurrentPrefills: sim?.maxConcurrentPrefills,
    maxBatchTokens: sim?.maxBatchTokens,
  };
}

/** The faults the fleet file sets for this endpoint (`sim.faults`). */
function fleetFileFaults(e: Endpoint): FaultSpec[] {
  return (e.sim?.faults ?? []).flatMap((text) => {
    try {
      return parseFaults(text);
    } catch (error) {
      throw new FleetError(
        'sim_bad_fault',
        `endpoints.${e.name}.sim.faults: ${error instanceof Error ? error.message : String(error)}`,
        { hint: "write kind[:key=value,…], e.g. '503:retry-after=2,first=3' or 'flap:down=5s,period=30s'" },
      );
    }
  });
}

export async function startSimFleet(fleet: Fleet, opts: SimFleetOptions = {}): Promise<SimFleet> {
  const chosen = fleet.endpoints.filter((e) => {
    if (opts.only && opts.only.length > 0) return opts.only.includes(e.name);
    return e.status === 'running' || opts.includePlanned === true;
  });
  const servers = new Map<string, SimServer>();
  const replicas = new Map<string, SimServer[]>();
  const all = (): SimServer[] => [...replicas.values()].flat();
  try {
    for (const e of chosen) {
      // The fleet file's pool size unless the caller asks for another.
      const count = opts.replicas?.[e.name] ?? Math.max(1, replicasOf(e).length);
      if (!(Number.isInteger(count) && count >= 1)) {
        throw new FleetError(
          'sim_usage',
          `replicas for ${e.name}: expected a positive integer, got ${count}`,
        );
      }
      const list: SimServer[] = [];
      replicas.set(e.name, list);
      for (let i = 0; i < count; i++) {
        // Fixed ports go to the first replica; the others listen on ephemeral ports.
        list.push(await startSimEndpoint(simEndpointOptions(e, opts, i === 0 ? opts.ports?.[e.name] : 0)));
      }
      servers.set(e.name, list[0] as SimServer);
    }
  } catch (error) {
    await Promise.all(all().map((s) => s.close()));
    throw error;
  }
  const env: Record<string, string> = {};
  // A pool's variable lists every replica, comma-separated: what loadFleet reads back as the pool.
  for (const e of chosen) env[e.env] = (replicas.get(e.name) as SimServer[]).map((s) => s.url).join(',');
  const endpoints = fleet.endpoints.map((e): Endpoint => {
    const server = servers.get(e.name);
    if (!server) return e;
    const url = new URL(server.url);
    const pool = (replicas.get(e.name) as SimServer[]).map((s, i) => ({ id: String(i), url: s.url }));
    return {
      ...e,
      url: server.url,
      replicas: pool,
      urlFromEnv: true,
      status: 'running',
      port: Number(url.port),
    };
  });
  return {
    endpoints: servers,
    replicas,
    env,
    fleet: { ...fleet, endpoints },
    close: async () => {
      await Promise.all(all().map((s) => s.close()));
    },
  };
}

/** How the simulator runs one endpoint of a fleet file (each replica gets the same options). */
export function simEndpointOptions(
  e: Endpoint,
  opts: Pick<SimFleetOptions, 'seed' | 'latencyScale' | 'faults'> = {},
  port = 0,
): SimEndpointOptions {
  return {
    name: e.name,
    dialect: e.dialect,
    model: e.servedModel,
    kind: e.kind,
    port,
    contextWindowTokens: e.contextWindowTokens,
    reasoning: e.reasoning,
    reasoningParser: e.reasoningParser === 'qwen3' ? 'qwen3' : undefined,
    version: simVersion(e),
    seed: opts.seed ?? 0,
    latency: { ...latencyForEndpoint(e), scale: opts.latencyScale ?? 1 },
    engine: engineForEndpoint(e),
    faults: [...fleetFileFaults(e), ...(opts.faults?.[e.name] ?? [])],
    startupMs: e.sim?.startupMs,
    embeddingDimension: e.kind === 'embeddings' ? e.slo.dimension : undefined,
  };
}

/** The fleet file's `serverVersion` as the simulator's version string (vLLM `0.11.0`, llama.cpp `b6715`). */
function simVersion(e: Endpoint): string | undefined {
  const v = e.serverVersion?.trim();
  if (!v) return undefined;
  return v.replace(/^(vllm|llama\.cpp|mlx_lm|tei)\s+/i, '');
}
