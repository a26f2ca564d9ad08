// Load generation for `bench`: closed loop at a fixed concurrency, and open loop on an absolute
// schedule. Every request becomes a RequestRecord (source 'bench'), so goodput is judged by the
// same objectives code as live traffic. The generator measures its own lag (scheduled vs actual
// send) so a saturated client never passes for a slow server.
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/index.ts';
import { gaps } from '../measure/index.ts';
import type { HttpTarget } from './http.ts';
import { timedRequest, timedStream } from './http.ts';
import { chatBody, embeddingsBody } from './workload.ts';

export interface BenchRequestOptions {
  readonly endpoint: Endpoint;
  /** The model id to send (a gateway route, or the endpoint's served model). */
  readonly model: string;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly batchSize: number;
  readonly timeoutMs: number;
  /** Gateway mode: the request goes through the gateway, not to the endpoint. */
  readonly viaGateway: boolean;
}

/** One bench request: its record plus the generator's timing of it. */
export interface BenchSample {
  readonly record: RequestRecord;
  /** Open loop: when it should have been sent (ms after the step start). */
  readonly scheduledMs?: number;
  /** When it was handed to the HTTP client (ms after the step start). */
  readonly dispatchedMs: number;
  /** dispatched − scheduled (open loop only). */
  readonly lagMs?: number;
  /** Gaps between token events, for pooled ITL. */
  readonly itlGapsMs: readonly number[];
}

const now = (): number => performance.now();

export interface BenchAnswer {
  readonly record: RequestRecord;
  /** Gaps between token events (chat), for ITL pooled over requests. */
  readonly itlGapsMs: readonly number[];
}

/** Sends one request of the endpoint's kind and turns the answer into a RequestRecord. */
export async function benchRequest(
  target: HttpTarget,
  o: BenchRequestOptions,
  id: string,
): Promise<BenchAnswer> {
  const e = o.endpoint;
  const base = {
    id,
    source: 'bench' as const,
    route: o.model,
    endpoint: e.name,
    host: e.host,
    model: o.model,
  };
  if (e.kind === 'embeddings') {
    const r = await timedRequest(
      target,
      'POST',
      '/v1/embeddings',
      embeddingsBody(o.model, o.batchSize, id),
      o.timeoutMs,
      id,
    );
    const record: RequestRecord = {
      ...base,
      operation: 'embeddings',
      startedAtMs: r.startedAtMs,
      outcome: r.ok
        ? 'ok'
        : r.status === undefined
          ? 'upstream_error'
          : r.status >= 500
            ? 'upstream_error'
            : 'client_error',
      status: r.status ?? 0,
      stream: false,
      attempts: [],
      inputCount: o.batchSize,
      timeToHeadersMs: r.timeToHeadersMs,
      ttftMs: r.ok ? r.latencyMs : undefined,
      totalMs: r.latencyMs,
      errorMessage: r.errorMessage,
    };
    return { record, itlGapsMs: [] };
  }
  // Through the gateway the dialect is the gateway's business; ask for every forced-length field.
  const body = chatBody(
    { model: o.model, promptTokens: o.promptTokens, maxTokens: o.maxTokens },
    o.viaGateway ? 'vllm' : e.dialect,
    id,
  );
  const t = await timedStream(target, '/v1/chat/completions', body, o.timeoutMs, id);
  const outcome = t.ok
    ? 'ok'
    : t.failure === 'transport' && t.errorMessage?.includes('within')
      ? 'timeout'
      : t.failure === 'http_error' && t.status !== undefined && t.status < 500 && t.status !== 429
        ? 'client_error'
        : t.status === 429
          ? 'rejected'
          : 'upstream_error';
  const record: RequestRecord = {
    ...base,
    operation: 'chat',
    startedAtMs: t.startedAtMs,
    outcome,
    status: t.status ?? 0,
    stream: true,
    attempts: [],
    promptTokens: t.promptTokens,
    completionTokens: t.completionTokens,
    tokenSource: t.tokenSource,
    timeToHeadersMs: t.timeToHeadersMs,
    timeToRoleMs: t.timeToRoleMs,
    ttftMs: t.ttftMs,
    itlP50Ms: t.itlMs.p50,
    itlP99Ms: t.itlMs.p99,
    itlMaxMs: t.itlMs.max,
    decodeTokensPerSecond: t.decodeTokensPerSecond,
    burstTokensPerSecond: t.burstTokensPerSecond,
    totalMs: t.totalMs,
    errorMessage: t.errorMessage,
  };
  return { record, itlGapsMs: gaps(t.tokenTimesMs) };
}

export interface StepRun {
  readonly samples: readonly BenchSample[];
  /** From the first send to the last completion. */
  readonly durationMs: number;
}

/** Closed loop: `concurrency` workers, each sending its next request when the last one ends. */
export async function closedLoop(
  send: (id: string) => Promise<BenchAnswer>,
  concurrency: number,
  requests: number,
  nextId: () => string,
  onDone?: (done: number) => void,
): Promise<StepRun> {
  const samples: BenchSample[] = [];
  const start = now();
  let issued = 0;
  let lastEnd = start;
  const worker = async (): Promise<void> => {
    while (issued < requests) {
      issued++;
      const dispatchedMs = now() - start;
      const answer = await send(nextId());
      lastEnd = now();
      samples.push({ ...answer, dispatchedMs });
      onDone?.(samples.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, requests)) }, () => worker()));
  return { samples, durationMs: lastEnd - start };
}

/**
 * Open loop on an absolute schedule: request i goes at start + offsets[i] whatever happened to
 * the ones before. A timer wakes the generator shortly before each send and it then yields with
 * setImmediate until the due time, so sends are not quantised to the timer's millisecond.
 */
export async function openLoop(
  send: (id: string) => Promise<BenchAnswer>,
  offsetsMs: readonly number[],
  nextId: () => string,
  onDone?: (done: number) => void,
): Promise<StepRun> {
  const samples: BenchSample[] = [];
  const pending: Promise<void>[] = [];
  const start = now();
  let lastEnd = start;
  for (const scheduledMs of offsetsMs) {
    await waitUntil(start + scheduledMs);
    const dispatchedMs = now() - start;
    const id = nextId();
    pending.push(
      send(id).then((answer) => {
        lastEnd = now();
        samples.push({ ...answer, scheduledMs, dispatchedMs, lagMs: dispatchedMs - scheduledMs });
        onDone?.(samples.length);
      }),
    );
  }
  await Promise.all(pending);
  return { samples, durationMs: lastEnd - start };
}

/**
 * How long before a send the generator stops sleeping and turns the event loop instead (timers are
 * late by up to ~1 ms). A longer turn does not help on an overloaded machine (measured: at load 9 on
 * 2 CPUs a turning process is preempted as late as a sleeping one wakes) and costs CPU; the lag is
 * measured and reported instead.
 */
const SPIN_MS = 2;

async function waitUntil(due: number): Promise<void> {
  const early = due - now() - SPIN_MS;
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  while (now() < due) await new Promise((resolve) => setImmediate(resolve));
}
