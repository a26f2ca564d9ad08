// Embeddings: a batch larger than the endpoint's limit (TEI: 32) is split, the parts are sent
// concurrently and merged back in input order; `dimensions` and `encoding_format` pass through.
import type { ServerResponse } from 'node:http';
import { upstreamModel, type Endpoint, type Replica } from '../fleet/index.ts';
import { estimateEmbeddingInputs } from '../routing/index.ts';
import { objectiveBatchSize } from '../slo/index.ts';
import { callJson, UpstreamFailureError } from '../upstream/call.ts';
import type { GatewayContext } from './context.ts';
import { runWithFailover } from './failover.ts';
import { fleetHeaders, type Outcome } from './generate.ts';
import { placeUnderLoad, routeRequest } from './route-request.ts';
import type { RequestTrace } from './trace.ts';
import { validateEmbeddings, type Json } from './validate.ts';

/** The inputs as a list of single inputs (a string, or one token array). */
export function embeddingInputs(input: unknown): unknown[] {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')) return [input];
  return Array.isArray(input) ? input : [input];
}

/** Split into consecutive batches of at most `size`. */
export function splitBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface EmbeddingPart {
  readonly data: Json[];
  readonly model?: string;
  readonly promptTokens: number;
  readonly totalTokens: number;
  /** performance.now() when the upstream's whole answer had arrived, before the gateway parsed it. */
  readonly receivedMono: number;
  /**
   * The upstream's answer as it came, when it can be relayed unchanged: an OpenAI-shaped list with
   * its model and its embeddings in input order (the client's whole batch in one part).
   */
  readonly relayable?: Buffer;
}

async function embedBatch(
  ctx: GatewayContext,
  e: Endpoint,
  body: Json,
  batch: unknown[],
  signal: AbortSignal,
  requestId: string,
  replica?: Replica,
): Promise<EmbeddingPart> {
  const r = await callJson({
    endpoint: e,
    target: ctx.pools.target(e, replica),
    path: '/v1/embeddings',
    body: JSON.stringify({ ...body, model: upstreamModel(e, body.model), input: batch }),
    signal,
    timeouts: e.timeouts,
    requestId,
  });
  const receivedMono = performance.now();
  let parsed: Json;
  try {
    parsed = JSON.parse(r.bodyText) as Json;
  } catch {
    throw new UpstreamFailureError({
      cause: 'malformed_chunk',
      endpoint: e.name,
      status: r.status,
      message: `answer is not JSON: ${r.bodyText.slice(0, 120)}`,
    });
  }
  const data = Array.isArray(parsed.data) ? (parsed.data as Json[]) : undefined;
  if (!data || data.length !== batch.length) {
    throw new UpstreamFailureError({
      cause: 'empty_answer',
      endpoint: e.name,
      status: r.status,
      message: `expected ${batch.length} embeddings, got ${data?.length ?? 'none'}`,
    });
  }
  const usage = (parsed.usage ?? {}) as Json;
  const promptTokens = typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : 0;
  const inOrder = data.every((d, i) => d.index === i);
  const relayable =
    inOrder &&
    parsed.object === 'list' &&
    typeof parsed.model === 'string' &&
    typeof usage.prompt_tokens === 'number'
      ? r.bodyBytes
      : undefined;
  return {
    receivedMono,
    ...(relayable !== undefined ? { relayable } : {}),
    data: inOrder ? data : [...data].sort((a, b) => Number(a.index ?? 0) - Number(b.index ?? 0)),
    model: typeof parsed.model === 'string' ? parsed.model : undefined,
    promptTokens,
    totalTokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : promptTokens,
  };
}

export async function handleEmbeddings(
  ctx: GatewayContext,
  trace: RequestTrace,
  res: ServerResponse,
  signal: AbortSignal,
  body: Json,
  headerTask: string | undefined,
): Promise<Outcome> {
  validateEmbeddings(body);
  const estimate = estimateEmbeddingInputs(body.input);
  trace.admissionTokens = estimate.tokens;
  const routed = await placeUnderLoad(
    ctx,
    trace,
    routeRequest(ctx, {
      model: body.model as string | undefined,
      headerTask,
      kind: 'embeddings',
      // Each input must fit the window on its own; the router checks the largest share.
      promptTokens: Math.ceil(estimate.tokens / Math.max(1, estimate.inputs)),
    }),
    'embeddings',
    signal,
  );
  trace.route = routed.route;
  trace.task = routed.task ?? 'embedding';
  const inputs = embeddingInputs(body.input);
  trace.inputCount = inputs.length;
  const budget = { remaining: routed.candidates.length + ctx.fleet.gateway.retries };
  const started = performance.now();
  const {
    value: parts,
    lease,
    failures,
  } = await runWithFailover(
    ctx,
    trace,
    routed.candidates,
    { signal, attemptBudget: budget },
    async (e, attempt) => {
      const batches = splitBatches(inputs, e.maxBatchSize ?? inputs.length);
      // One failed part fails the attempt: its siblings are cancelled rather than left running.
      const siblings = new AbortController();
      const onAbort = (): void => siblings.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        return await Promise.all(
          batches.map((b) =>
            embedBatch(ctx, e, body, b, siblings.signal, trace.id, attempt.replica).catch(
              (error: unknown) => {
                siblings.abort();
                throw error;
              },
            ),
          ),
        );
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  );
  lease.finish(undefined, 200);
  const upstreamMs = performance.now() - lease.startedMono;
  trace.upstreamMs += upstreamMs;
  // The endpoint's latency ends when its last answer had arrived: parsing and merging 32 × 4096
  // floats is the gateway's work (gatewayOverheadMs), not the endpoint's.
  const answeredMono = Math.max(...parts.map((p) => p.receivedMono));
  trace.ttftMs = answeredMono - started;
  // The aggregate embeddings/s objective counts batches of its stated size: their inputs over the
  // time such batches kept the endpoint busy (from the answering attempt's send to its last part).
  if (inputs.length >= objectiveBatchSize(lease.endpoint))
    trace.busyMs = ctx.busy(lease.endpoint).add(lease.startedMono, answeredMono);
  const promptTokens = parts.reduce((s, p) => s + p.promptTokens, 0);
  trace.promptTokens = promptTokens;
  const endpoint = lease.endpoint;
  // One part in order is relayed as it came: serialising 32 × 4096 floats again cost as much as
  // parsing them. Split batches are merged and renumbered.
  const text = (parts.length === 1 ? parts[0]?.relayable : undefined) ?? mergedAnswer(parts, endpoint);
  trace.gatewayOverheadMs = Math.max(0, performance.now() - trace.t0 - trace.upstreamMs);
  const headers = fleetHeaders(trace, routed, endpoint, failures);
  headers['x-llm-fleet-attempts'] = String(trace.attempts.length);
  if (lease.replica) headers['x-llm-fleet-replica'] = lease.replica.id;
  headers['x-llm-fleet-batches'] = String(parts.length);
  headers['server-timing'] =
    `gateway;dur=${trace.gatewayOverheadMs.toFixed(3)}, upstream;dur=${upstreamMs.toFixed(1)}`;
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return { status: 200, outcome: 'ok', endpoint, model: parts[0]?.model ?? endpoint.servedModel };
}

/** The parts' embeddings in input order, renumbered, under one usage. */
function mergedAnswer(parts: readonly EmbeddingPart[], endpoint: Endpoint): string {
  let offset = 0;
  const data: Json[] = [];
  for (const part of parts) {
    for (const d of part.data)
      data.push({ ...d, index: offset + Number(d.index ?? 0) - Number(part.data[0]?.index ?? 0) });
    offset += part.data.length;
  }
  return JSON.stringify({
    object: 'list',
    data,
    model: parts[0]?.model ?? endpoint.servedModel,
    usage: {
      prompt_tokens: parts.reduce((s, p) => s + p.promptTokens, 0),
      total_tokens: parts.reduce((s, p) => s + p.totalTokens, 0),
    },
  });
}
