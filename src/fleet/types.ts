// The typed, immutable fleet: everything the seed document holds, after parsing, validation,
// env-var overrides and the environment profile. Every unit is in the field name.

export type Dialect = 'vllm' | 'mlx' | 'llamacpp' | 'tei';
export type EndpointKind = 'chat' | 'embeddings';
/** running: routable. planned: in the inventory but not routable (e.g. port TBD). */
export type EndpointStatus = 'running' | 'planned';
export type EnvironmentName = 'development' | 'production' | 'degraded' | 'ci';

/** The seed's routing tasks. Aliases ('routing', 'code-review', 'embeddings', …) map onto these. */
export type Task = 'code' | 'classification' | 'embedding' | 'reasoning' | 'lightweight';
export const TASKS: readonly Task[] = ['code', 'classification', 'embedding', 'reasoning', 'lightweight'];

export interface Host {
  readonly name: string;
  readonly address: string;
  readonly description: string;
  readonly hardware: string;
}

export interface LatencyTarget {
  readonly p95Ms: number;
  readonly p99Ms: number;
}

export interface ThroughputTarget {
  /** Generation-phase tokens/s per request, judged at P50 over requests. */
  readonly sustainedTokensPerSecond?: number;
  /** Best 1-second token rate, judged at P95 over requests. */
  readonly burstTokensPerSecond?: number;
  /** Embeddings endpoints: embeddings per second at the given batch size and dimension. */
  readonly embeddingsPerSecond?: number;
  /** Free text from the seed's throughput table, e.g. 'RTX 5090, chunked prefill enabled'. */
  readonly note?: string;
}

export interface AvailabilityTarget {
  /** Fraction, e.g. 0.995. Undefined for best-effort endpoints (reported, never judged). */
  readonly target?: number;
  /** Name of an availability window (`always`, `business-hours`, …). */
  readonly window: string;
  readonly bestEffort: boolean;
  /** Free text from the seed, e.g. 'best-effort async'. */
  readonly note?: string;
}

export interface EndpointSlo {
  /** For chat endpoints: time to first token. For embeddings: latency of one batch of `batchSize` texts. */
  readonly ttft?: LatencyTarget;
  readonly throughput: ThroughputTarget;
  readonly availability: AvailabilityTarget;
  /** How long an outage may last before recovery is judged late. Undefined: no recovery objective. */
  readonly recoveryMs?: number;
  /** Embeddings: batch size the latency/throughput targets are stated for (seed: 32). */
  readonly batchSize?: number;
  /** Embeddings: dimension the targets are stated for (seed: 4096). */
  readonly dimension?: number;
}

export interface EndpointTimeouts {
  readonly connectTimeoutMs: number;
  /** Time to the first content or reasoning token. Default: derived from the TTFT P99 target. */
  readonly ttftTimeoutMs: number;
  /** Longest silence allowed between two tokens once streaming. */
  readonly idleTimeoutMs: number;
  readonly totalTimeoutMs: number;
}

export interface Endpoint {
  readonly name: string;
  /** The environment variable that holds (and overrides) this endpoint's URL. */
  readonly env: string;
  /** The environment variable holding the key sent upstream as `Authorization: Bearer …`. */
  readonly apiKeyEnv?: string;
  /** That variable's value at load time: the server's own --api-key (never printed). */
  readonly upstreamApiKey?: string;
  readonly host: string;
  /** Undefined while the port is TBD. */
  readonly port?: number;
  /** Effective base URL (after env override). Undefined when not routable. */
  readonly url?: string;
  /** True when `url` came from the env var rather than host:port. */
  readonly urlFromEnv: boolean;
  /**
   * Every server of this endpoint (a replica pool): host:port (or the env var's first URL) first,
   * then the fleet file's `replicas`. Absent on hand-built endpoints: `replicasOf` gives [url].
   */
  readonly replicas?: readonly Replica[];
  /** Prefix-cache affinity across replicas (bounded-load consistent hashing); false = load only. */
  readonly affinity?: ReplicaAffinity | false;
  /** The model as the inventory names it. */
  readonly model: string;
  /** The id the server reports in /v1/models (defaults to `model`). */
  readonly servedModel: string;
  /**
   * Every model id this endpoint's server answers to: `servedModel` first, then the fleet file's
   * `models` (a llama.cpp router, mlx_lm loading by name, vLLM LoRA adapters). A request naming one
   * is routed here and sent upstream with that id.
   */
  readonly servedModels?: readonly string[];
  /** False when the fleet file states no `slo`: measured and reported, never judged. */
  readonly judged?: boolean;
  readonly dialect: Dialect;
  readonly kind: EndpointKind;
  readonly status: EndpointStatus;
  readonly contextWindowTokens?: number;
  /** Accelerator or machine part this endpoint runs on (e.g. 'RTX 5090'). */
  readonly hardware?: string;
  readonly notes?: string;
  /** Ordered endpoint names to try when a request names this endpoint or its model directly. */
  readonly fallbacks: readonly string[];
  /** Whether the server can continue a partial assistant message (stream rescue). */
  readonly canContinue: boolean;
  /** Whether the model emits reasoning before the answer (probes need more tokens). */
  readonly reasoning: boolean;
  /** Whether a partial answer that has reasoning may be continued here (stream rescue). */
  readonly continueReasoning: boolean;
  /** vLLM's `--reasoning-parser` (qwen3, deepseek_r1, …), when the fleet file says. */
  readonly reasoningParser?: string;
  /** The server's version as the fleet file states it (e.g. vLLM '0.11.0'). */
  readonly serverVersion?: string;
  /** Largest batch the server accepts for embeddings (TEI: 32). */
  readonly maxBatchSize?: number;
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  readonly slo: EndpointSlo;
  readonly timeouts: EndpointTimeouts;
  /** The SLO targets as written in the fleet file, before the environment profile. */
  readonly baseSlo: EndpointSlo;
  /** How `llm-fleet sim` runs this endpoint (faults in the simulator's syntax; loading phase). */
  readonly sim?: EndpointSimSettings;
  /** This endpoint's own same-endpoint retry policy, where it differs from gateway.retry. */
  readonly retry?: Partial<SameEndpointRetry>;
}

/** One server of an endpoint's replica pool. */
export interface Replica {
  /** Its position in the pool as a string ('0', '1', …): the `replica` label in metrics and logs. */
  readonly id: string;
  readonly url: string;
}

export interface ReplicaAffinity {
  /** A replica keeps its prefixes while its load is at most this × its share of the pool's load. */
  readonly loadFactor: number;
  /** How many characters of the prompt (system prompt first) name the prefix. */
  readonly prefixChars: number;
}

/** The endpoint's servers: its replica pool, or its one url. */
export function replicasOf(endpoint: Endpoint): readonly Replica[] {
  if (endpoint.replicas && endpoint.replicas.length > 0) return endpoint.replicas;
  return endpoint.url === undefined ? [] : [{ id: '0', url: endpoint.url }];
}

export interface EndpointSimSettings {
  /** Fault specs such as '503:retry-after=2,first=3' (parsed by the simulator). */
  readonly faults: readonly string[];
  readonly startupMs?: number;
  /** Engine batching (vLLM --max-num-seqs, llama.cpp --parallel, mlx_lm --decode-concurrency). */
  readonly maxNumSeqs?: number;
  /** vLLM --max-num-batched-tokens, llama.cpp --batch-size. */
  readonly maxNumBatchedTokens?: number;
  /** vLLM KV-cache capacity in tokens. */
  readonly kvCacheTokens?: number;
  /** vLLM --block-size. */
  readonly blockSizeTokens?: number;
  /** mlx_lm --prefill-step-size. */
  readonly prefillChunkTokens?: number;
  /** mlx_lm --prompt-concurrency. */
  readonly maxConcurrentPrefills?: number;
  /** TEI --max-batch-tokens. */
  readonly maxBatchTokens?: number;
}

export interface RoutingRule {
  readonly task: Task;
  /** Rule applies when the token count is > minTokensExclusive (if set). */
  readonly minTokensExclusive?: number;
  /** Rule applies when the token count is <= maxTokensInclusive (if set). */
  readonly maxTokensInclusive?: number;
  readonly endpoint: string;
  readonly fallbacks: readonly string[];
  readonly rationale: string;
  /** The seed's wording of the token condition, e.g. '> 40K context', 'Any'. */
  readonly tokenLabel: string;
  readonly taskLabel: string;
}

export interface Routing {
  readonly rules: readonly RoutingRule[];
  /** Endpoint used when no rule matches (the seed's function falls through to the fast coder). */
  readonly defaultEndpoint: string;
  /** Alias → task, e.g. routing → classification, code-review → reasoning. */
  readonly taskAliases: Readonly<Record<string, Task>>;
  /** How load decides within what the matrix allows (`routing.load` in the fleet file). */
  readonly load: LoadRouting;
}

/**
 * `static`: the matrix's order, as the seed wrote it. `slo`: the preferred endpoint while its
 * predicted TTFT leaves headroom under its targets, else the next candidate that does, else the
 * admission policy. `least-busy`: fewest requests in flight among the matrix's candidates (LiteLLM's
 * least-busy; a baseline for the benchmark).
 */
export type LoadPolicy = 'static' | 'slo' | 'least-busy';
export type Priority = 'interactive' | 'batch';

export interface LoadRouting {
  readonly policy: LoadPolicy;
  /** Share of a TTFT target kept free: a candidate has headroom while prediction ≤ target × (1 − this). */
  readonly headroom: number;
  /** Batch traffic needs this much headroom, so it yields capacity to interactive traffic first. */
  readonly batchHeadroom: number;
  /** How often the engines' own load metrics are scraped (0 = never). */
  readonly scrapeIntervalMs: number;
  /** Engine figures older than this are ignored (the gateway's own ledger still counts). */
  readonly staleAfterMs: number;
  readonly admission: {
    /** When no candidate has headroom: wait in the gateway for capacity, or refuse at once (429). */
    readonly mode: 'queue' | 'shed';
    /** Requests waiting in the gateway at most; beyond it they are shed (batch first). */
    readonly maxQueue: number;
    /** Longest a request waits in the gateway before it is shed with 429. */
    readonly ttlMs: number;
  };
  /** Priority by task (the seed's async-preferred reasoning → batch) and by API key. */
  readonly taskPriorities: Readonly<Partial<Record<Task, Priority>>>;
  readonly keyPriorities: Readonly<Record<string, Priority>>;
}

export interface BusinessHours {
  readonly name: string;
  /** 0 = Sunday … 6 = Saturday. */
  readonly days: readonly number[];
  /** Minutes after local midnight. */
  readonly startMinute: number;
  readonly endMinute: number;
  readonly timeZone: string;
  readonly always: boolean;
}

export interface Calibration {
  readonly formula: string;
  readonly warmupIterations: number;
  readonly iterations: number;
  readonly percentiles: readonly number[];
  readonly safetyMargin: number;
  /** Which measured percentile each target is derived from (seed inconsistency #1). */
  readonly basePercentile: 'same' | 'p99';
  readonly networkOverheadMs: { readonly min: number; readonly max: number };
  readonly ttftRoundingMs: number;
  /** Requested step; see `effectiveThroughputStep` in the fleet module for how it is made safe. */
  readonly throughputRoundingTokensPerSecond: number;
  readonly embeddingsRoundingPerSecond: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly embeddingBatchSize: number;
  readonly recordHardwareState: boolean;
}

export interface RecalibrationTriggers {
  readonly hardwareChange: boolean;
  readonly modelChange: boolean;
  readonly sustainedViolations: {
    /** Fraction of requests over the P95 target that counts as a violation (seed: 0.05). */
    readonly rate: number;
    readonly windowMs: number;
    readonly minRequests: number;
  };
  readonly optimizationWork: boolean;
}

export interface Environments {
  readonly production: { readonly tightenMin: number; readonly tightenMax: number; readonly apply: number };
  readonly degraded: {
    readonly ttftFactorMin: number;
    readonly ttftFactorMax: number;
    readonly apply: number;
  };
  readonly ci: { readonly simulated: boolean; readonly skipPerformanceAssertions: boolean };
  readonly cpuOnly: { readonly applicable: boolean; readonly note: string };
}

export interface DeprecatedEndpoint {
  readonly env: string;
  readonly url: string;
  readonly host?: string;
  readonly port?: number;
  readonly status: string;
  /** What to use instead: endpoint names (their env vars are suggested). */
  readonly replacements: readonly string[];
  readonly note?: string;
}

/** Per-minute allowance of one API key (a missing figure is unlimited). */
export interface KeyLimit {
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

export interface KeyWithLimit extends KeyLimit {
  readonly key: string;
  readonly name?: string;
}

export interface GatewaySettings {
  readonly apiKeys: readonly string[];
  /** Keys with their own allowance (each is in `apiKeys` too). */
  readonly keyLimits: readonly KeyWithLimit[];
  /** The allowance of every other key, and of all clients together when no key is set. */
  readonly rateLimit?: KeyLimit;
  readonly protectMetrics: boolean;
  readonly protectHealth: boolean;
  readonly maxBodyBytes: number;
  readonly retries: number;
  /** The fleet's default same-endpoint retry policy (gateway.retry); endpoints may override it. */
  readonly retry: SameEndpointRetry;
  readonly probeIntervalMs: number;
}

/**
 * After a transient failure before the first token (a reset, a 5xx, 429 or 503), retry the same
 * endpoint once when the wait (Retry-After, or a short backoff) is at most `maxWaitMs` and the
 * request's TTFT deadline leaves room for it; otherwise fail over at once.
 */
export interface SameEndpointRetry {
  readonly sameEndpointFirst: boolean;
  readonly maxWaitMs: number;
}

export interface Fleet {
  readonly name: string;
  readonly description?: string;
  readonly lastUpdated?: string;
  /** Path of the fleet file this came from (for messages). */
  readonly source: string;
  readonly environment: EnvironmentName;
  readonly hosts: readonly Host[];
  readonly endpoints: readonly Endpoint[];
  readonly routing: Routing;
  readonly windows: readonly BusinessHours[];
  readonly calibration: Calibration;
  readonly recalibration: RecalibrationTriggers;
  readonly environments: Environments;
  readonly deprecated: readonly DeprecatedEndpoint[];
  readonly gateway: GatewaySettings;
  /** Non-fatal findings (seed inconsistencies and the decisions taken). */
  readonly warnings: readonly FleetIssue[];
}

export interface FleetIssue {
  readonly code: string;
  readonly message: string;
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, e.g. `endpoints.coder.slo.ttft.p95`. */
  readonly field?: string;
  readonly hint?: string;
}
