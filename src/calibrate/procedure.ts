// The seed's Measurement Procedure, per endpoint, directly against the endpoint (never through the
// gateway): warm-up iterations discarded, measured iterations one at a time, P50/P95/P99 of every
// metric, proposed thresholds, and the server's own state before and after. An endpoint that fails
// during the run is reported with the failure and gets no figures: a partial run averaged in would
// describe a server that does not exist.
import { upstreamAuthHeaders } from '../upstream/auth.ts';
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { BusyUnion } from '../measure/busy-union.ts';
import type { StreamFailure, Summary } from '../measure/index.ts';
import { DEFINITIONS, gaps, PERCENTILE_METHOD, streamRates, summarize } from '../measure/index.ts';
import type { HttpTarget } from './http.ts';
import { httpTarget, tcpConnectTimesMs, timedRequest, timedStream } from './http.ts';
import { planLanes } from './schedule.ts';
import type { ServerFingerprint } from './server-state.ts';
import { readLoadGauges, readServerFacts } from './server-state.ts';
import type { DerivedValue, Proposal } from './thresholds.ts';
import { proposeThresholds } from './thresholds.ts';
import type { Verdict, VerdictLine } from './verdict.ts';
import { overallVerdict, verdicts } from './verdict.ts';
import type { ServerTokenizer } from './tokens.ts';
import { serverTokenizer } from './tokens.ts';
import type { ChatWorkload } from './workload.ts';
import {
  assumedFillerWords,
  chatBody,
  embeddingsBody,
  forcedLengthFields,
  idSource,
  syntheticPrompt,
} from './workload.ts';

export interface CalibrateOptions {
  readonly warmupIterations: number;
  readonly iterations: number;
  readonly parallelHosts: boolean;
  readonly note?: string;
  /** Fixed network overhead (from --network-overhead or the fleet file); measured when undefined. */
  readonly networkOverheadMs?: number;
  readonly networkOverheadSource?: 'flag' | 'fleet';
  readonly overheadTries?: number;
  readonly promptTokens?: number;
  readonly maxTokens?: number;
  readonly batchSize?: number;
  readonly requestTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly runId?: string;
  readonly onProgress?: (p: Progress) => void;
}

export interface Progress {
  readonly endpoint: string;
  readonly phase: 'overhead' | 'warmup' | 'measured' | 'done' | 'failed';
  readonly done: number;
  readonly total: number;
  readonly message?: string;
}

/** One request of the run, as measured. Times in ms after the request was written. */
export interface CalibrationSample {
  /** Sent as `x-request-id`, so server logs (and the simulator's ground truth) can be joined. */
  readonly requestId: string;
  readonly iteration: number;
  readonly phase: 'warmup' | 'measured';
  readonly ok: boolean;
  readonly startedAtMs: number;
  readonly failure?: StreamFailure | 'bad_response';
  readonly errorMessage?: string;
  readonly status?: number;
  readonly timeToHeadersMs?: number;
  readonly timeToRoleMs?: number;
  readonly ttftMs?: number;
  readonly totalMs: number;
  readonly promptTokens?: number;
  /** usage.prompt_tokens; else the server's /tokenize of the prompt; else the asked size (assumed). */
  readonly promptTokenSource?: 'usage' | 'tokenize' | 'assumed';
  readonly completionTokens?: number;
  /** usage; else /tokenize of the generated text; else counted events (an estimate that may undercount). */
  readonly tokenSource?: 'usage' | 'tokenize' | 'chunks';
  /** The server's finish_reason (`length` when it stopped at max_tokens, `stop` when the model did). */
  readonly finishReason?: string;
  /** True when the answer reached the asked length (max_tokens): the output length was forced. */
  readonly outputForced?: boolean;
  /** Why this sample has no decode or burst figure (too few tokens to time a rate). */
  readonly rateExcluded?: string;
  readonly decodeTokensPerSecond?: number;
  readonly burstTokensPerSecond?: number;
  readonly itlP50Ms?: number;
  readonly tokenTimesMs?: readonly number[];
  /** Embeddings: texts in the batch. */
  readonly inputCount?: number;
  /** The stream's `system_fingerprint` (llama.cpp build, mlx version and GPU). */
  readonly systemFingerprint?: string;
}

export interface EndpointMetrics {
  readonly ttftMs: Summary;
  readonly timeToHeadersMs: Summary;
  readonly timeToRoleMs: Summary;
  readonly e2eMs: Summary;
  /** Every gap between token events, pooled over the measured requests. */
  readonly itlMs: Summary;
  readonly decodeTokensPerSecond: Summary;
  readonly burstTokensPerSecond: Summary;
  readonly completionTokens: Summary;
  readonly promptTokens: Summary;
  /**
   * Aggregate embeddings/s, one value per round of EMBEDDINGS_THROUGHPUT_CONCURRENCY concurrent
   * batches: the round's inputs over the union of its requests' intervals — what `check` judges.
   */
  readonly embeddingsPerSecond: Summary;
}

export interface NetworkOverhead {
  readonly valueMs: number;
  readonly source: 'measured' | 'flag' | 'fleet';
  /** Median TCP connect time through the guarded connector. */
  readonly tcpConnectMedianMs?: number;
  /** Median GET /health round trip. */
  readonly healthRoundTripMedianMs?: number;
  readonly tries?: number;
}

export interface EndpointCalibration {
  readonly endpoint: string;
  readonly host: string;
  readonly kind: 'chat' | 'embeddings';
  readonly dialect: string;
  readonly url: string;
  readonly status: 'completed' | 'failed';
  readonly failure?: {
    readonly phase: 'overhead' | 'warmup' | 'measured';
    readonly iteration?: number;
    readonly message: string;
  };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly warmupCompleted: number;
  readonly measuredCompleted: number;
  /** Undefined for a failed endpoint: nothing is averaged in. */
  readonly metrics?: EndpointMetrics;
  /**
   * The weakest token count of the measured requests: `usage` (the server's), `tokenize` (the
   * server's /tokenize of the generated text), `chunks` (counted events: an estimate that
   * undercounts multi-token events; throughput figures from it carry a caveat).
   */
  readonly tokenSource?: 'usage' | 'tokenize' | 'chunks';
  /**
   * False when some measured answer ended before the asked length — the server cannot force it
   * (mlx_lm), ignored ignore_eos/min_tokens, or the model stopped early. See `output`.
   */
  readonly outputLengthForced: boolean;
  /** What the measured answers really were, against what was asked (chat). */
  readonly output?: OutputCheck;
  /** The synthetic prompt's real length, against what was asked (chat). */
  readonly prompt?: PromptCheck;
  readonly networkOverhead?: NetworkOverhead;
  readonly current: Endpoint['slo'];
  readonly proposal?: Proposal;
  readonly verdicts?: readonly VerdictLine[];
  readonly verdict: Verdict | 'failed';
  readonly fingerprint?: ServerFingerprint;
  /** Every request, warm-up included (flagged), for --json and --out. */
  readonly samples: readonly CalibrationSample[];
}

export interface OutputCheck {
  readonly askedTokens: number;
  /** How output length was asked for (`ignore_eos`, `min_tokens`), or [] where the server has no way. */
  readonly forcedWith: readonly string[];
  /** Measured answers shorter than asked. */
  readonly shortAnswers: number;
  /** Measured answers with too few tokens to time a rate (excluded from decode and burst). */
  readonly excludedFromRates: number;
  readonly minTokensForRates: number;
  readonly finishReasons: Readonly<Record<string, number>>;
}

export interface PromptCheck {
  readonly askedTokens: number;
  /** P50 of the measured prompts' real length. */
  readonly measuredTokens?: number;
  /** The weakest source among the measured requests (see CalibrationSample.promptTokenSource). */
  readonly source: 'usage' | 'tokenize' | 'assumed';
  /** Set when the prompt was sized with the server's /tokenize before the run. */
  readonly sizedWithTokenize?: { readonly fillerWords: number; readonly tokens: number };
}

/**
 * A rate timed over fewer tokens than this is mostly timer noise (7 tokens at 700 tok/s span 9 ms):
 * such a sample keeps its TTFT but gives no decode or burst figure.
 */
export const MIN_TOKENS_FOR_RATES = 16;

export interface CalibrationRun {
  readonly id: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly fleet: string;
  readonly fleetName: string;
  readonly environment: string;
  readonly note?: string;
  readonly settings: {
    readonly warmupIterations: number;
    readonly iterations: number;
    readonly parallelHosts: boolean;
    readonly promptTokens: number;
    readonly maxTokens: number;
    readonly batchSize: number;
    readonly safetyMargin: number;
    readonly basePercentile: 'same' | 'p99';
    readonly formula: string;
  };
  readonly percentileMethod: string;
  readonly definitions: typeof DEFINITIONS;
  readonly endpoints: readonly EndpointCalibration[];
}

export async function runCalibration(
  fleet: Fleet,
  endpoints: readonly Endpoint[],
  options: CalibrateOptions,
): Promise<CalibrationRun> {
  const startedAt = new Date().toISOString();
  const runId = options.runId ?? `cal-${Date.now().toString(36)}`;
  const lanes = planLanes(endpoints, options.parallelHosts);
  const results = new Map<string, EndpointCalibration>();
  await Promise.all(
    lanes.map(async (lane) => {
      for (const endpoint of lane)
        results.set(endpoint.name, await calibrateEndpoint(fleet, endpoint, options, runId));
    }),
  );
  const c = fleet.calibration;
  return {
    id: runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    fleet: fleet.source,
    fleetName: fleet.name,
    environment: fleet.environment,
    note: options.note,
    settings: {
      warmupIterations: options.warmupIterations,
      iterations: options.iterations,
      parallelHosts: options.parallelHosts,
      promptTokens: options.promptTokens ?? c.promptTokens,
      maxTokens: options.maxTokens ?? c.maxTokens,
      batchSize: options.batchSize ?? c.embeddingBatchSize,
      safetyMargin: c.safetyMargin,
      basePercentile: c.basePercentile,
      formula: c.formula,
    },
    percentileMethod: PERCENTILE_METHOD,
    definitions: DEFINITIONS,
    endpoints: endpoints.map((e) => results.get(e.name) as EndpointCalibration),
  };
}

async function calibrateEndpoint(
  fleet: Fleet,
  endpoint: Endpoint,
  options: CalibrateOptions,
  runId: string,
): Promise<EndpointCalibration> {
  const startedAt = new Date().toISOString();
  const url = endpoint.url as string;
  const c = fleet.calibration;
  const progress = (phase: Progress['phase'], done: number, total: number, message?: string): void =>
    options.onProgress?.({ endpoint: endpoint.name, phase, done, total, message });
  const target = httpTarget(url, {
    env: options.env,
    connections: 1,
    connectTimeoutMs: endpoint.timeouts.connectTimeoutMs,
    headers: upstreamAuthHeaders(endpoint),
  });
  const samples: CalibrationSample[] = [];
  const base = {
    endpoint: endpoint.name,
    host: endpoint.host,
    kind: endpoint.kind,
    dialect: endpoint.dialect,
    url,
    startedAt,
    current: endpoint.slo,
    outputLengthForced:
      endpoint.kind === 'embeddings' || Object.keys(forcedLengthFields(endpoint.dialect, 1)).length > 0,
    samples,
  };
  const failed = (
    phase: 'overhead' | 'warmup' | 'measured',
    message: string,
    iteration?: number,
    extra: Partial<EndpointCalibration> = {},
  ): EndpointCalibration => {
    progress('failed', 0, 0, message);
    return {
      ...base,
      ...extra,
      status: 'failed',
      failure: { phase, iteration, message },
      finishedAt: new Date().toISOString(),
      warmupCompleted: samples.filter((s) => s.phase === 'warmup' && s.ok).length,
      measuredCompleted: samples.filter((s) => s.phase === 'measured' && s.ok).length,
      verdict: 'failed',
    };
  };
  try {
    progress('overhead', 0, 1);
    let overhead: NetworkOverhead;
    try {
      overhead = await measureOverhead(endpoint, target, url, options);
    } catch (error) {
      return failed('overhead', error instanceof Error ? error.message : String(error));
    }
    const facts = await readServerFacts(endpoint, target);
    const nextId = idSource(`${runId}-${endpoint.name}`);
    const tokenizer =
      endpoint.kind === 'chat' ? serverTokenizer(target, endpoint.dialect, endpoint.servedModel) : undefined;
    const askedPromptTokens = options.promptTokens ?? c.promptTokens;
    const sized = tokenizer ? await sizePrompt(tokenizer, askedPromptTokens, nextId()) : undefined;
    const workload: ChatWorkload = {
      model: endpoint.servedModel,
      promptTokens: askedPromptTokens,
      maxTokens: options.maxTokens ?? c.maxTokens,
      fillerWords: sized?.fillerWords,
    };
    const batchSize = options.batchSize ?? endpoint.slo.batchSize ?? c.embeddingBatchSize;
    const timeoutMs = options.requestTimeoutMs ?? Math.max(endpoint.timeouts.totalTimeoutMs, 60_000);
    const one = (iteration: number, phase: 'warmup' | 'measured'): Promise<CalibrationSample> =>
      endpoint.kind === 'embeddings'
        ? embeddingsSample(target, endpoint, batchSize, nextId(), iteration, phase, timeoutMs)
        : chatSample(target, endpoint, workload, tokenizer, nextId(), iteration, phase, timeoutMs);
    for (const [phase, count] of [
      ['warmup', options.warmupIterations],
      ['measured', options.iterations],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const sample = await one(i, phase);
        samples.push(sample);
        if (!sample.ok)
          return failed(phase, `${phase} request ${i + 1}: ${sample.errorMessage ?? sample.failure}`, i, {
            networkOverhead: overhead,
            fingerprint: { ...facts, note: options.note, systemFingerprint: systemFingerprintOf(samples) },
          });
        progress(phase, i + 1, count);
      }
    }
    let aggregateRates: number[] = [];
    if (endpoint.kind === 'embeddings') {
      progress('measured', options.iterations, options.iterations, 'aggregate embeddings/s');
      const throughput = await embeddingsThroughput(endpoint, url, options, batchSize, nextId, timeoutMs);
      if (throughput.failure)
        return failed('measured', throughput.failure, undefined, {
          networkOverhead: overhead,
          fingerprint: { ...facts, note: options.note, systemFingerprint: systemFingerprintOf(samples) },
        });
      aggregateRates = throughput.rates;
    }
    const after = await readLoadGauges(endpoint, target);
    const measured = samples.filter((s) => s.phase === 'measured');
    const metrics = metricsOf(measured, aggregateRates);
    const forThresholds = {
      latencyMs: metrics.ttftMs,
      decodeTokensPerSecond: metrics.decodeTokensPerSecond,
      burstTokensPerSecond: metrics.burstTokensPerSecond,
      embeddingsPerSecond: metrics.embeddingsPerSecond,
    };
    const tokenSource =
      endpoint.kind === 'embeddings'
        ? undefined
        : weakest(
            measured.map((s) => s.tokenSource),
            TOKEN_SOURCES,
          );
    const proposal = withCaveats(
      proposeThresholds({ ...forThresholds, networkOverheadMs: overhead.valueMs }, c),
      tokenSource === 'chunks'
        ? 'estimated: the server sent no usage and has no /tokenize, so tokens are counted events (one event may carry several)'
        : undefined,
    );
    const lines = verdicts(forThresholds, endpoint.slo, endpoint.kind);
    const checks = endpoint.kind === 'chat' ? chatChecks(measured, workload, endpoint, sized) : undefined;
    progress('done', options.iterations, options.iterations);
    return {
      ...base,
      status: 'completed',
      finishedAt: new Date().toISOString(),
      warmupCompleted: options.warmupIterations,
      measuredCompleted: measured.length,
      metrics,
      tokenSource,
      outputLengthForced: checks === undefined ? true : checks.output.shortAnswers === 0,
      output: checks?.output,
      prompt: checks?.prompt,
      networkOverhead: overhead,
      proposal: trimProposal(proposal, endpoint.kind),
      verdicts: lines,
      verdict: overallVerdict(lines),
      fingerprint: { ...facts, after, note: options.note, systemFingerprint: systemFingerprintOf(samples) },
    };
  } finally {
    await target.close().catch(() => undefined);
  }
}

function trimProposal(p: Proposal, kind: 'chat' | 'embeddings'): Proposal {
  return kind === 'embeddings'
    ? { ttftP95Ms: p.ttftP95Ms, ttftP99Ms: p.ttftP99Ms, embeddingsPerSecond: p.embeddingsPerSecond }
    : {
        ttftP95Ms: p.ttftP95Ms,
        ttftP99Ms: p.ttftP99Ms,
        sustainedTokensPerSecond: p.sustainedTokensPerSecond,
        burstTokensPerSecond: p.burstTokensPerSecond,
      };
}

function systemFingerprintOf(samples: readonly CalibrationSample[]): string | undefined {
  return samples.find((s) => s.systemFingerprint !== undefined)?.systemFingerprint;
}

async function measureOverhead(
  endpoint: Endpoint,
  target: HttpTarget,
  url: string,
  options: CalibrateOptions,
): Promise<NetworkOverhead> {
  if (options.networkOverheadMs !== undefined)
    return { valueMs: options.networkOverheadMs, source: options.networkOverheadSource ?? 'flag' };
  const tries = options.overheadTries ?? 10;
  const connects = await tcpConnectTimesMs(url, tries, options.env);
  const health: number[] = [];
  for (let i = 0; i < tries; i++) {
    const r = await timedRequest(
      target,
      'GET',
      '/health',
      undefined,
      endpoint.timeouts.connectTimeoutMs + 5_000,
    );
    if (r.status !== undefined) health.push(r.latencyMs);
  }
  const tcp = summarize(connects).p50 as number;
  return {
    valueMs: tcp,
    source: 'measured',
    tcpConnectMedianMs: tcp,
    healthRoundTripMedianMs: summarize(health).p50,
    tries,
  };
}

async function chatSample(
  target: HttpTarget,
  endpoint: Endpoint,
  workload: ChatWorkload,
  tokenizer: ServerTokenizer | undefined,
  uniqueId: string,
  iteration: number,
  phase: 'warmup' | 'measured',
  timeoutMs: number,
): Promise<CalibrationSample> {
  const body = chatBody(workload, endpoint.dialect, uniqueId);
  const t = await timedStream(target, '/v1/chat/completions', body, timeoutMs, uniqueId, {
    keepText: true,
  });
  const noToken = t.ok && t.ttftMs === undefined;
  // Counts the server did not give are asked of its tokenizer (after the stream: no effect on timing).
  let completionTokens = t.completionTokens;
  let tokenSource: CalibrationSample['tokenSource'] = t.tokenSource;
  if (t.ok && t.tokenSource === 'chunks' && tokenizer && t.text !== undefined) {
    const n = await tokenizer.text(t.text);
    if (n !== undefined) {
      completionTokens = n;
      tokenSource = 'tokenize';
    }
  }
  let promptTokens = t.promptTokens;
  let promptTokenSource: CalibrationSample['promptTokenSource'] = 'usage';
  if (promptTokens === undefined) {
    const n = t.ok ? await tokenizer?.chat(body.messages as { role: string; content: string }[]) : undefined;
    promptTokens = n ?? workload.promptTokens;
    promptTokenSource = n === undefined ? 'assumed' : 'tokenize';
  }
  const rates =
    tokenSource === 'tokenize'
      ? streamRates(t.tokenTimesMs, completionTokens)
      : { decodeTokensPerSecond: t.decodeTokensPerSecond, burstTokensPerSecond: t.burstTokensPerSecond };
  const tooShort = (completionTokens ?? 0) < MIN_TOKENS_FOR_RATES;
  return {
    requestId: uniqueId,
    iteration,
    phase,
    ok: t.ok && !noToken,
    startedAtMs: t.startedAtMs,
    failure: noToken ? 'bad_response' : t.failure,
    errorMessage: noToken ? 'the stream carried no token' : t.errorMessage,
    status: t.status,
    timeToHeadersMs: t.timeToHeadersMs,
    timeToRoleMs: t.timeToRoleMs,
    ttftMs: t.ttftMs,
    totalMs: t.totalMs,
    promptTokens,
    promptTokenSource,
    completionTokens,
    tokenSource,
    finishReason: t.finishReason,
    outputForced: completionTokens !== undefined && completionTokens >= workload.maxTokens,
    rateExcluded: tooShort
      ? `${completionTokens ?? 0} tokens: fewer than ${MIN_TOKENS_FOR_RATES}, too short to time a rate`
      : undefined,
    decodeTokensPerSecond: tooShort ? undefined : rates.decodeTokensPerSecond,
    burstTokensPerSecond: tooShort ? undefined : rates.burstTokensPerSecond,
    itlP50Ms: t.itlMs.p50,
    tokenTimesMs: t.tokenTimesMs,
    systemFingerprint: t.systemFingerprint,
  };
}

const TOKEN_SOURCES = ['usage', 'tokenize', 'chunks'] as const;
const PROMPT_SOURCES = ['usage', 'tokenize', 'assumed'] as const;

/** The last (weakest) of `order` that any value is; the first when there are none. */
function weakest<T extends string>(values: readonly (T | undefined)[], order: readonly T[]): T {
  let worst = 0;
  for (const v of values) if (v !== undefined) worst = Math.max(worst, order.indexOf(v));
  return order[worst] as T;
}

function withCaveats(p: Proposal, caveat: string | undefined): Proposal {
  if (caveat === undefined) return p;
  const mark = (d: DerivedValue | undefined): DerivedValue | undefined => (d ? { ...d, caveat } : undefined);
  return {
    ...p,
    sustainedTokensPerSecond: mark(p.sustainedTokensPerSecond),
    burstTokensPerSecond: mark(p.burstTokensPerSecond),
  };
}

function chatChecks(
  measured: readonly CalibrationSample[],
  workload: ChatWorkload,
  endpoint: Endpoint,
  sized: { fillerWords: number; tokens: number } | undefined,
): { output: OutputCheck; prompt: PromptCheck } {
  const finishReasons: Record<string, number> = {};
  for (const s of measured) {
    const key = s.finishReason ?? 'none';
    finishReasons[key] = (finishReasons[key] ?? 0) + 1;
  }
  const prompts = measured.map((s) => s.promptTokens).filter((v): v is number => v !== undefined);
  return {
    output: {
      askedTokens: workload.maxTokens,
      forcedWith: Object.keys(forcedLengthFields(endpoint.dialect, workload.maxTokens)),
      shortAnswers: measured.filter((s) => s.outputForced !== true).length,
      excludedFromRates: measured.filter((s) => s.rateExcluded !== undefined).length,
      minTokensForRates: MIN_TOKENS_FOR_RATES,
      finishReasons,
    },
    prompt: {
      askedTokens: workload.promptTokens,
      measuredTokens: summarize(prompts).p50,
      source: weakest(
        measured.map((s) => s.promptTokenSource),
        PROMPT_SOURCES,
      ),
      sizedWithTokenize: sized,
    },
  };
}

/**
 * Filler words that make the synthetic prompt `asked` tokens long as the server counts them (its
 * /tokenize, chat template applied where it can): a few secant steps from the one-word-one-token
 * guess. Undefined when the server cannot tokenize.
 */
async function sizePrompt(
  tokenizer: ServerTokenizer,
  asked: number,
  sampleId: string,
): Promise<{ fillerWords: number; tokens: number } | undefined> {
  const count = (words: number): Promise<number | undefined> =>
    tokenizer.chat([{ role: 'user', content: syntheticPrompt(asked, sampleId, words) }]);
  let words = assumedFillerWords(asked, sampleId);
  let tokens = await count(words);
  if (tokens === undefined) return undefined;
  let best = { fillerWords: words, tokens };
  let prev: { words: number; tokens: number } | undefined;
  for (let step = 0; step < 5 && Math.abs(tokens - asked) > Math.max(1, asked * 0.005); step++) {
    const perWord =
      prev !== undefined && prev.words !== words
        ? (tokens - prev.tokens) / (words - prev.words)
        : words > 0
          ? tokens / words
          : 1;
    prev = { words, tokens };
    words = Math.max(0, Math.round(words + (asked - tokens) / Math.max(0.05, perWord)));
    const next = await count(words);
    if (next === undefined) break;
    tokens = next;
    if (Math.abs(tokens - asked) < Math.abs(best.tokens - asked)) best = { fillerWords: words, tokens };
  }
  return best;
}

/** Embeddings batches in flight at once while calibrate measures the aggregate rate. */
export const EMBEDDINGS_THROUGHPUT_CONCURRENCY = 8;
/** Rounds of concurrent batches; each gives one aggregate rate (the proposal takes their P50). */
export const EMBEDDINGS_THROUGHPUT_ROUNDS = 5;

/**
 * The seed's embeddings/s is throughput under concurrency (a batch of 32 at 5000/s would take
 * 6.4 ms beside a 200 ms P95): rounds of concurrent batches on their own connections, each round's
 * inputs over the union of its requests' [start, end] — the figure `check` judges, from the gateway's
 * busy time, so a calibrated floor means the same thing as the judged one.
 */
async function embeddingsThroughput(
  endpoint: Endpoint,
  url: string,
  options: CalibrateOptions,
  batchSize: number,
  nextId: () => string,
  timeoutMs: number,
): Promise<{ rates: number[]; failure?: string }> {
  const target = httpTarget(url, {
    env: options.env,
    connections: EMBEDDINGS_THROUGHPUT_CONCURRENCY,
    connectTimeoutMs: endpoint.timeouts.connectTimeoutMs,
    headers: upstreamAuthHeaders(endpoint),
  });
  const rates: number[] = [];
  try {
    for (let round = 0; round < EMBEDDINGS_THROUGHPUT_ROUNDS; round++) {
      const batches = await Promise.all(
        Array.from({ length: EMBEDDINGS_THROUGHPUT_CONCURRENCY }, () =>
          // '-concurrent' marks these in the server's logs (and the simulator's ground truth).
          embeddingsSample(
            target,
            endpoint,
            batchSize,
            `${nextId()}-concurrent`,
            round,
            'measured',
            timeoutMs,
          ),
        ),
      );
      const failed = batches.find((b) => !b.ok);
      if (failed)
        return {
          rates,
          failure: `aggregate embeddings/s, round ${round + 1}: ${failed.errorMessage ?? failed.failure}`,
        };
      const busy = new BusyUnion(timeoutMs);
      for (const b of batches) busy.add(b.startedAtMs, b.startedAtMs + (b.totalMs ?? 0));
      if (busy.coveredMs > 0) rates.push((batches.length * batchSize * 1000) / busy.coveredMs);
    }
    return { rates };
  } finally {
    await target.close().catch(() => undefined);
  }
}

async function embeddingsSample(
  target: HttpTarget,
  endpoint: Endpoint,
  batchSize: number,
  uniqueId: string,
  iteration: number,
  phase: 'warmup' | 'measured',
  timeoutMs: number,
): Promise<CalibrationSample> {
  const r = await timedRequest(
    target,
    'POST',
    '/v1/embeddings',
    embeddingsBody(endpoint.servedModel, batchSize, uniqueId),
    timeoutMs,
    uniqueId,
  );
  let count: number | undefined;
  let promptTokens: number | undefined;
  if (r.ok) {
    try {
      const j = JSON.parse(r.text) as { data?: unknown[]; usage?: { prompt_tokens?: unknown } };
      count = Array.isArray(j.data) ? j.data.length : undefined;
      if (typeof j.usage?.prompt_tokens === 'number') promptTokens = j.usage.prompt_tokens;
    } catch {
      count = undefined;
    }
  }
  const complete = r.ok && count === batchSize;
  return {
    requestId: uniqueId,
    iteration,
    phase,
    ok: complete,
    startedAtMs: r.startedAtMs,
    failure: r.ok
      ? complete
        ? undefined
        : 'bad_response'
      : r.status === undefined
        ? 'transport'
        : 'http_error',
    errorMessage: r.ok
      ? complete
        ? undefined
        : `expected ${batchSize} embeddings, got ${count ?? 'an unreadable body'}`
      : (r.errorMessage ?? `HTTP ${r.status}`),
    status: r.status,
    timeToHeadersMs: r.timeToHeadersMs,
    ttftMs: r.latencyMs,
    totalMs: r.latencyMs,
    promptTokens,
    inputCount: batchSize,
  };
}

function metricsOf(
  samples: readonly CalibrationSample[],
  aggregateRates: readonly number[],
): EndpointMetrics {
  const pick = (f: (s: CalibrationSample) => number | undefined): number[] =>
    samples.map(f).filter((v): v is number => v !== undefined);
  const itl = samples.flatMap((s) => gaps(s.tokenTimesMs ?? []));
  return {
    ttftMs: summarize(pick((s) => s.ttftMs)),
    timeToHeadersMs: summarize(pick((s) => s.timeToHeadersMs)),
    timeToRoleMs: summarize(pick((s) => s.timeToRoleMs)),
    e2eMs: summarize(pick((s) => s.totalMs)),
    itlMs: summarize(itl),
    decodeTokensPerSecond: summarize(pick((s) => s.decodeTokensPerSecond)),
    burstTokensPerSecond: summarize(pick((s) => s.burstTokensPerSecond)),
    completionTokens: summarize(pick((s) => s.completionTokens)),
    promptTokens: summarize(pick((s) => s.promptTokens)),
    embeddingsPerSecond: summarize(aggregateRates),
  };
}
