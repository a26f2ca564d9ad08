// The seed's Measurement Procedure, per endpoint, directly against the endpoint (never through the
// gateway): warm-up iterations discarded, measured iterations one at a time, P50/P95/P99 of every
// metric, proposed thresholds, and the server's own state before and after. An endpoint that fails
// during the run is reported with the failure and gets no figures: a partial run averaged in would
// describe a server that does not exist.
import type { Endpoint, Fleet } from '../fleet/index.ts';
import type { StreamFailure, Summary } from '../measure/index.ts';
import { DEFINITIONS, gaps, PERCENTILE_METHOD, summarize } from '../measure/index.ts';
import type { HttpTarget } from './http.ts';
import { httpTarget, tcpConnectTimesMs, timedRequest, timedStream } from './http.ts';
import { planLanes } from './schedule.ts';
import type { ServerFingerprint } from './server-state.ts';
import { readLoadGauges, readServerFacts } from './server-state.ts';
import type { Proposal } from './thresholds.ts';
import { proposeThresholds } from './thresholds.ts';
import type { Verdict, VerdictLine } from './verdict.ts';
import { overallVerdict, verdicts } from './verdict.ts';
import { chatBody, embeddingsBody, idSource } from './workload.ts';

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
  readonly completionTokens?: number;
  readonly tokenSource?: 'usage' | 'chunks';
  readonly decodeTokensPerSecond?: number;
  readonly burstTokensPerSecond?: number;
  readonly itlP50Ms?: number;
  readonly tokenTimesMs?: readonly number[];
  /** Embeddings: texts in the batch and embeddings per second. */
  readonly inputCount?: number;
  readonly embeddingsPerSecond?: number;
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
  /** `chunks` when any measured request had no usage (token counts then undercount multi-token events). */
  readonly tokenSource?: 'usage' | 'chunks';
  /** True when the server has no way to force the output length (mlx_lm). */
  readonly outputLengthForced: boolean;
  readonly networkOverhead?: NetworkOverhead;
  readonly current: Endpoint['slo'];
  readonly proposal?: Proposal;
  readonly verdicts?: readonly VerdictLine[];
  readonly verdict: Verdict | 'failed';
  readonly fingerprint?: ServerFingerprint;
  /** Every request, warm-up included (flagged), for --json and --out. */
  readonly samples: readonly CalibrationSample[];
}

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
    outputLengthForced: endpoint.kind === 'embeddings' || endpoint.dialect !== 'mlx',
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
    const workload = {
      model: endpoint.servedModel,
      promptTokens: options.promptTokens ?? c.promptTokens,
      maxTokens: options.maxTokens ?? c.maxTokens,
    };
    const batchSize = options.batchSize ?? endpoint.slo.batchSize ?? c.embeddingBatchSize;
    const timeoutMs = options.requestTimeoutMs ?? Math.max(endpoint.timeouts.totalTimeoutMs, 60_000);
    const one = (iteration: number, phase: 'warmup' | 'measured'): Promise<CalibrationSample> =>
      endpoint.kind === 'embeddings'
        ? embeddingsSample(target, endpoint, batchSize, nextId(), iteration, phase, timeoutMs)
        : chatSample(target, endpoint, workload, nextId(), iteration, phase, timeoutMs);
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
    const after = await readLoadGauges(endpoint, target);
    const measured = samples.filter((s) => s.phase === 'measured');
    const metrics = metricsOf(measured);
    const forThresholds = {
      latencyMs: metrics.ttftMs,
      decodeTokensPerSecond: metrics.decodeTokensPerSecond,
      burstTokensPerSecond: metrics.burstTokensPerSecond,
      embeddingsPerSecond: metrics.embeddingsPerSecond,
    };
    const proposal = proposeThresholds({ ...forThresholds, networkOverheadMs: overhead.valueMs }, c);
    const lines = verdicts(forThresholds, endpoint.slo, endpoint.kind);
    progress('done', options.iterations, options.iterations);
    return {
      ...base,
      status: 'completed',
      finishedAt: new Date().toISOString(),
      warmupCompleted: options.warmupIterations,
      measuredCompleted: measured.length,
      metrics,
      tokenSource:
        endpoint.kind === 'embeddings'
          ? undefined
          : measured.some((s) => s.tokenSource === 'chunks')
            ? 'chunks'
            : 'usage',
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
  workload: { model: string; promptTokens: number; maxTokens: number },
  uniqueId: string,
  iteration: number,
  phase: 'warmup' | 'measured',
  timeoutMs: number,
): Promise<CalibrationSample> {
  const t = await timedStream(
    target,
    '/v1/chat/completions',
    chatBody(workload, endpoint.dialect, uniqueId),
    timeoutMs,
    uniqueId,
  );
  const noToken = t.ok && t.ttftMs === undefined;
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
    promptTokens: t.promptTokens,
    completionTokens: t.completionTokens,
    tokenSource: t.tokenSource,
    decodeTokensPerSecond: t.decodeTokensPerSecond,
    burstTokensPerSecond: t.burstTokensPerSecond,
    itlP50Ms: t.itlMs.p50,
    tokenTimesMs: t.tokenTimesMs,
    systemFingerprint: t.systemFingerprint,
  };
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
    embeddingsPerSecond: complete && r.latencyMs > 0 ? (batchSize * 1000) / r.latencyMs : undefined,
  };
}

function metricsOf(samples: readonly CalibrationSample[]): EndpointMetrics {
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
    embeddingsPerSecond: summarize(pick((s) => s.embeddingsPerSecond)),
  };
}
