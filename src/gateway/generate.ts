// Chat and text completions, streaming and not. Streaming holds back role-only and empty chunks
// until the first content or reasoning token, so any failure before it fails over invisibly; after
// it, a failing upstream is rescued by continuation on an endpoint that can continue, or the
// client's stream ends with an explicit SSE error event — never a clean close that looks like
// success. Chunks are passed through as the upstream wrote them.
import type { ServerResponse } from 'node:http';
import { upstreamModel, type Endpoint } from '../fleet/index.ts';
import type { RequestOutcome } from '../measure/record.ts';
import { estimateChatTokens, estimatePromptTokens, type ChatMessageLike } from '../routing/index.ts';
import { openStream, type StreamCall, type StreamEvent } from '../upstream/call.ts';
import type { UpstreamFailure } from '../upstream/upstream-error.ts';
import type { GatewayContext } from './context.ts';
import { AnswerAssembler } from './assemble.ts';
import {
  ContinuationSplitter,
  continuationBody,
  reasoningSplit,
  rescuable,
  stoodIn,
  type PartialAnswer,
} from './continuation.ts';
import { failureOf, runWithFailover, type AttemptLease } from './failover.ts';
import { headerSafe } from './http.ts';
import { placeUnderLoad, routeRequest, type RoutedRequest } from './route-request.ts';
import type { RequestTrace } from './trace.ts';
import { admitParameters, validateChat, validateCompletion, type Json } from './validate.ts';

export type GenerateOperation = 'chat' | 'completion';

export interface Outcome {
  readonly status: number;
  readonly outcome: RequestOutcome;
  readonly endpoint?: Endpoint;
  readonly model?: string;
  readonly errorMessage?: string;
}

interface RequestInfo {
  readonly ctx: GatewayContext;
  readonly trace: RequestTrace;
  readonly res: ServerResponse;
  readonly signal: AbortSignal;
  readonly body: Json;
  readonly operation: GenerateOperation;
  readonly routed: RoutedRequest;
  readonly path: string;
  /** The gateway's own estimate, used only when no server reported the prompt's tokens. */
  readonly promptTokensEstimate: number;
}

function upstreamBody(body: Json, endpoint: Endpoint, stream: boolean): string {
  const out: Json = { ...body, model: upstreamModel(endpoint, body.model) };
  // Usage is always asked for upstream (records need it); it is dropped again from the client's
  // stream when the client did not ask. Running counts too, where the server has them (vLLM's
  // continuous_usage_stats, llama.cpp's timings_per_token): a stream cut mid-answer then still says
  // how many tokens it had generated, so a rescue counts from the server, never from chunks (one
  // chunk may carry several tokens when the reader lags).
  if (stream) {
    const options: Json = { ...(body.stream_options as Json | undefined), include_usage: true };
    if (endpoint.dialect === 'vllm') options.continuous_usage_stats = true;
    out.stream_options = options;
    if (endpoint.dialect === 'llamacpp') out.timings_per_token = true;
  }
  return JSON.stringify(out);
}

/** Headers that say where the request went and why. */
export function fleetHeaders(
  trace: RequestTrace,
  routed: RoutedRequest,
  endpoint: Endpoint,
  failures: readonly UpstreamFailure[],
): Record<string, string> {
  // The router's first choice carries the detour it took (`instead of coder-fast — marked down`).
  const firstReason =
    routed.decision.candidates[0]?.endpoint.name === endpoint.name
      ? routed.decision.reason.replace(`${endpoint.name}: `, '')
      : (routed.decision.candidates.find((c) => c.endpoint.name === endpoint.name)?.reason ??
        routed.decision.reason);
  const detour =
    failures.length > 0 ? `; after ${failures.map((f) => `${f.endpoint} ${f.cause}`).join(', ')}` : '';
  const h: Record<string, string> = {
    'x-request-id': trace.id,
    'x-llm-fleet-endpoint': endpoint.name,
    'x-llm-fleet-model': headerSafe(upstreamModel(endpoint, routed.route)),
    'x-llm-fleet-route': headerSafe(trace.route),
    'x-llm-fleet-reason': headerSafe(
      routed.placement && routed.placement.decision !== 'static'
        ? `${routed.placement.reason}; ${firstReason}${detour}`
        : `${firstReason}${detour}`,
    ),
    'x-llm-fleet-attempts': String(trace.attempts.length + 1),
  };
  if (trace.task) h['x-llm-fleet-task'] = headerSafe(trace.task);
  return h;
}

function serverTiming(trace: RequestTrace): string {
  const parts = [`gateway;dur=${(trace.gatewayOverheadMs ?? 0).toFixed(3)}`];
  if (trace.upstreamTtftMs !== undefined) parts.push(`upstream-ttft;dur=${trace.upstreamTtftMs.toFixed(1)}`);
  return parts.join(', ');
}

export async function handleGenerate(
  ctx: GatewayContext,
  trace: RequestTrace,
  res: ServerResponse,
  signal: AbortSignal,
  body: Json,
  operation: GenerateOperation,
  headerTask: string | undefined,
): Promise<Outcome> {
  if (operation === 'chat') validateChat(body);
  else validateCompletion(body);
  const promptTokens =
    operation === 'chat'
      ? estimateChatTokens(body.messages as ChatMessageLike[], body.tools)
      : estimatePromptTokens(body.prompt);
  const maxTokens =
    typeof body.max_completion_tokens === 'number'
      ? body.max_completion_tokens
      : typeof body.max_tokens === 'number'
        ? body.max_tokens
        : undefined;
  trace.admissionTokens = promptTokens + (maxTokens ?? 0);
  trace.affinityPrompt =
    operation === 'chat'
      ? (body.messages as ChatMessageLike[])
      : typeof body.prompt === 'string'
        ? body.prompt
        : undefined;
  const routed = await placeUnderLoad(
    ctx,
    trace,
    admitParameters(
      routeRequest(ctx, {
        model: body.model as string | undefined,
        headerTask,
        kind: 'chat',
        promptTokens,
        maxTokens,
      }),
      body,
      operation,
    ),
    'chat',
    signal,
  );
  trace.route = routed.route;
  trace.task = routed.task;
  const info: RequestInfo = {
    ctx,
    trace,
    res,
    signal,
    body,
    operation,
    routed,
    path: operation === 'chat' ? '/v1/chat/completions' : '/v1/completions',
    promptTokensEstimate: promptTokens,
  };
  trace.stream = body.stream === true;
  return trace.stream ? streamed(info) : whole(info);
}

async function whole(info: RequestInfo): Promise<Outcome> {
  const { ctx, trace, res, signal, body, routed, operation } = info;
  const budget = { remaining: routed.candidates.length + ctx.fleet.gateway.retries };
  // Streamed upstream and assembled here, so the TTFT and idle timeouts apply; a failure at any
  // point retries the whole request on the next candidate.
  const { value, lease, failures } = await runWithFailover(
    ctx,
    trace,
    routed.candidates,
    { signal, attemptBudget: budget },
    async (e, l) => {
      const opened = await openUpToFirstToken(info, e, l, body, false);
      const answer = new AnswerAssembler(operation);
      const tokenTimes: number[] = [];
      const take = (ev: StreamEvent): void => {
        if (ev.chunk.kind === 'delta' && ev.chunk.hasToken) tokenTimes.push(ev.atMs);
        answer.add(ev.data);
      };
      opened.held.forEach(take);
      opened.call.attach(take);
      await opened.call.ended;
      return { answer: answer.result(), tokenTimes };
    },
  );
  lease.finish(undefined, 200);
  const { answer, tokenTimes } = value;
  trace.upstreamMs += performance.now() - lease.startedMono;
  trace.tokenTimes.push(...tokenTimes);
  trace.tokenChunks = tokenTimes.length;
  if (tokenTimes[0] !== undefined) trace.ttftMs = tokenTimes[0] - trace.t0;
  const usage = answer.usage as Json | undefined;
  const finishReason = (answer.choices as Json[] | undefined)?.[0]?.finish_reason;
  const eos = unsentEos(lease.endpoint, typeof finishReason === 'string' ? finishReason : undefined);
  if (usage && eos > 0 && typeof usage.completion_tokens === 'number') {
    usage.completion_tokens -= eos;
    if (typeof usage.total_tokens === 'number') usage.total_tokens -= eos;
  }
  if (usage) {
    if (typeof usage.prompt_tokens === 'number') trace.promptTokens = usage.prompt_tokens;
    if (typeof usage.completion_tokens === 'number') trace.completionTokens = usage.completion_tokens;
  } else {
    // A server that gives usage only to non-streaming requests (the gateway streams upstream):
    // the client still gets `usage`, counted here and flagged so in the record.
    trace.promptTokens = info.promptTokensEstimate;
    trace.completionTokens = tokenTimes.length;
    trace.tokenSource = 'chunks';
    answer.usage = {
      prompt_tokens: trace.promptTokens,
      completion_tokens: trace.completionTokens,
      total_tokens: trace.promptTokens + trace.completionTokens,
    };
  }
  const endpoint = lease.endpoint;
  const text = JSON.stringify(answer);
  trace.gatewayOverheadMs = Math.max(0, performance.now() - trace.t0 - trace.upstreamMs);
  const headers = fleetHeaders(trace, routed, endpoint, failures);
  headers['x-llm-fleet-attempts'] = String(trace.attempts.length);
  if (lease.replica) headers['x-llm-fleet-replica'] = lease.replica.id;
  headers['server-timing'] = serverTiming(trace);
  res.writeHead(200, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
  return {
    status: 200,
    outcome: 'ok',
    endpoint,
    model: typeof answer.model === 'string' ? answer.model : endpoint.servedModel,
  };
}

interface OpenedStream {
  readonly call: StreamCall;
  /** Events up to and including the first token (or [DONE]), held back from the client. */
  readonly held: StreamEvent[];
}

/**
 * Open a stream and read it up to its first token (or its end), holding everything back. Events
 * after the first token wait, detached, in the call's queue for the consumer's sink.
 */
async function openUpToFirstToken(
  info: RequestInfo,
  endpoint: Endpoint,
  lease: AttemptLease,
  requestBody: Json,
  continuation: boolean,
): Promise<OpenedStream> {
  const { ctx, trace, signal } = info;
  const call = await openStream({
    endpoint,
    target: ctx.pools.target(endpoint, lease.replica),
    path: info.path,
    body: upstreamBody({ ...requestBody, stream: true }, endpoint, true),
    signal,
    timeouts: endpoint.timeouts,
    requestId: trace.id,
  });
  if (!continuation) trace.timeToHeadersMs = call.headersAtMs - trace.t0;
  const held: StreamEvent[] = [];
  let firstToken!: () => void;
  const sawFirstToken = new Promise<void>((resolve) => (firstToken = resolve));
  call.attach((ev) => {
    const chunk = ev.chunk;
    if (chunk.kind === 'done') {
      held.push(ev);
      return;
    }
    if (chunk.kind !== 'delta') return;
    if (chunk.hasToken) {
      held.push(ev);
      trace.upstreamTtftMs = ev.atMs - lease.startedMono;
      lease.firstToken();
      call.attach(undefined);
      firstToken();
      return;
    }
    // A continuation's role chunk would repeat the one the client already has.
    if (continuation && chunk.finishReason === undefined && chunk.usage === undefined) return;
    if (!continuation && trace.timeToRoleMs === undefined) trace.timeToRoleMs = ev.atMs - trace.t0;
    held.push(ev);
  });
  // Either the first token, or the end of a stream without one ([DONE] or a failure, which throws).
  await Promise.race([sawFirstToken, call.ended]);
  return { call, held };
}

/** One rescue as the final chunk's `llm_fleet` extension and the log tell it. */
interface RescueNote {
  readonly from: string;
  readonly to: string;
  readonly cause: string;
  readonly after_tokens: number;
}

/** Completion tokens of one attempt: the server's running count where it gives one, else chunks. */
interface AttemptCount {
  serverTokens: number | undefined;
  chunks: number;
  finish?: string;
}

/**
 * Tokens a server's usage counts that the answer never contained: mlx_lm counts the EOS that ended
 * an answer (appended before its stop check, its empty text never sent). The gateway counts the
 * answer's tokens.
 */
function unsentEos(endpoint: Endpoint, finishReason: string | undefined): number {
  return endpoint.dialect === 'mlx' && finishReason === 'stop' ? 1 : 0;
}

async function streamed(info: RequestInfo): Promise<Outcome> {
  const { ctx, trace, res, signal, body, routed, operation } = info;
  const streamOptions = body.stream_options as Json | undefined;
  const wantsUsage = streamOptions?.include_usage === true;
  const wantsRunningUsage = wantsUsage && streamOptions?.continuous_usage_stats === true;
  const budget = { remaining: routed.candidates.length + ctx.fleet.gateway.retries };
  const first = await runWithFailover(
    ctx,
    trace,
    routed.candidates,
    { signal, attemptBudget: budget },
    (e, lease) => openUpToFirstToken(info, e, lease, body, false),
  );
  let lease = first.lease;
  let opened = first.value;
  const endpoint0 = lease.endpoint;
  trace.upstreamMs += trace.upstreamTtftMs ?? 0;
  trace.degraded = ctx.health.degradedHosts().includes(endpoint0.host);

  const headers = fleetHeaders(trace, routed, endpoint0, first.failures);
  headers['x-llm-fleet-attempts'] = String(trace.attempts.length + 1);
  if (lease.replica) headers['x-llm-fleet-replica'] = lease.replica.id;
  trace.gatewayOverheadMs = Math.max(0, performance.now() - trace.t0 - trace.upstreamMs);
  headers['server-timing'] = serverTiming(trace);
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });

  // The answer relayed so far; `tokens` are completion tokens as the servers counted them.
  const partial = { content: '', reasoning: '', tokens: 0 };
  let count: AttemptCount = { serverTokens: undefined, chunks: 0 };
  /** Completion tokens of the attempts before the current one (each cut, then continued). */
  let relayedBefore = 0;
  let countedChunks = false;
  let originalPromptTokens: number | undefined;
  let streamId: string | undefined;
  let reasoningKeys: string[] | undefined;
  let splitter: ContinuationSplitter | undefined;
  const rescues: RescueNote[] = [];
  let model: string | undefined;
  let failure: UpstreamFailure | undefined;
  // Running counts the gateway asked vLLM for, which the client did not: taken off its chunks.
  const stripRunningUsage = !wantsRunningUsage;

  const frame = (ev: StreamEvent): string | undefined => {
    const c = ev.chunk;
    if (c.kind === 'done') return 'data: [DONE]\n\n';
    if (c.kind !== 'delta') return undefined;
    let data = ev.data;
    if (c.hasToken) {
      let { content, reasoning } = c;
      if (splitter) {
        if (splitter.changes(reasoning, content)) {
          ({ reasoning, content } = splitter.split(reasoning, content));
          const keys = reasoningKeys?.length ? reasoningKeys : ['reasoning_content'];
          data = rewriteDelta(data, reasoning, content, keys);
        } else {
          splitter.split(reasoning, content);
        }
      } else if (reasoningKeys === undefined && reasoning !== '') {
        // The keys the client has been reading reasoning under (vLLM 0.11.1–0.15 sends both).
        reasoningKeys = ['reasoning_content', 'reasoning'].filter((k) =>
          new RegExp(`"${k}"\\s*:\\s*"`).test(data),
        );
      }
      partial.content += content;
      partial.reasoning += reasoning;
      count.chunks += 1;
      trace.tokenChunks += 1;
      trace.tokenTimes.push(ev.atMs);
      if (trace.ttftMs === undefined) trace.ttftMs = performance.now() - trace.t0;
    }
    if (c.finishReason !== undefined) count.finish = c.finishReason;
    let recount = false;
    if (c.usage) {
      if (c.usage.completionTokens !== undefined) {
        const eos = unsentEos(lease.endpoint, count.finish);
        count.serverTokens = c.usage.completionTokens - eos;
        recount = eos > 0;
      }
      if (c.usage.promptTokens !== undefined && rescues.length === 0) {
        originalPromptTokens = c.usage.promptTokens;
        trace.promptTokens = c.usage.promptTokens;
      }
    }
    partial.tokens = relayedBefore + (count.serverTokens ?? count.chunks);
    if (c.usageOnly && !wantsUsage) return undefined;
    const dropUsage = stripRunningUsage && c.usage !== undefined && !c.usageOnly;
    if (rescues.length > 0 || recount) {
      data = rescuedChunk(data, {
        id: rescues.length > 0 ? streamId : undefined,
        usage: c.usage !== undefined ? { prompt: trace.promptTokens, completion: partial.tokens } : undefined,
        dropUsage,
        rescues: rescues.length > 0 && (c.finishReason !== undefined || c.usageOnly) ? rescues : undefined,
      });
    } else if (dropUsage) {
      data = withoutUsage(data);
    }
    if (rescues.length === 0) streamId ??= idOf(data);
    return `data: ${data}\n\n`;
  };

  // Each event is written in the upstream read that completed it. No cork of our own: node's http
  // write already corks the socket for the rest of the tick and sends the tick's writes as one
  // writev; corking on top of it made each event go out as four syscalls (four tiny TCP segments).
  // When the client's socket is full the upstream socket is paused until it drains.
  const write = (text: string): boolean => text === '' || res.destroyed || res.write(text);
  let current = opened.call;
  res.on('drain', () => current.resume());

  const settleCounts = (): void => {
    trace.completionTokens = partial.tokens;
    if (countedChunks || count.serverTokens === undefined) trace.tokenSource = 'chunks';
    if (trace.promptTokens === undefined && originalPromptTokens === undefined && rescues.length > 0) {
      trace.promptTokens = info.promptTokensEstimate;
      trace.tokenSource = 'estimate';
    }
  };

  for (;;) {
    let text = '';
    for (const ev of opened.held) {
      if (model === undefined && ev.chunk.kind === 'delta') model = modelOf(ev.data);
      const f = frame(ev);
      if (f) text += f;
    }
    write(text);
    current = opened.call;
    try {
      current.attach((ev) => {
        const f = frame(ev);
        return f === undefined || write(f);
      });
      await current.ended;
      lease.finish(undefined, 200);
      settleCounts();
      res.end();
      // A rescued answer stays with the endpoint that sent its first token (its TTFT, the headers'
      // x-llm-fleet-endpoint); the continuation shows in its attempts.
      return { status: 200, outcome: 'ok', endpoint: endpoint0, model };
    } catch (error) {
      const f = failureOf(error, lease.endpoint.name);
      lease.finish(f);
      settleCounts();
      if (f.cause === 'cancelled' || signal.aborted) {
        return {
          status: 200,
          outcome: 'cancelled',
          endpoint: lease.endpoint,
          model,
          errorMessage: 'the client went away',
        };
      }
      failure ??= f;
      // What this attempt relayed counts from now on as already received.
      if (count.serverTokens === undefined && count.chunks > 0) countedChunks = true;
      relayedBefore = partial.tokens;
      count = { serverTokens: undefined, chunks: 0 };
      // Stream rescue: continue the partial answer elsewhere (or here) so the client gets one whole answer.
      const snapshot: PartialAnswer = { ...partial };
      if (!rescuable(body, snapshot, operation) || budget.remaining <= 0) break;
      // Every candidate that can continue, the endpoint that was cut last (when its breaker lets it).
      const order = [
        ...routed.candidates.filter((e) => e.name !== lease.endpoint.name),
        lease.endpoint,
      ].filter((e) => continuationBody(body, snapshot, e, operation) !== undefined);
      if (order.length === 0) break;
      try {
        const rescue = await runWithFailover(
          ctx,
          trace,
          order,
          { signal, attemptBudget: budget, continuation: true },
          (e, l) => {
            splitter = new ContinuationSplitter(stoodIn(snapshot), reasoningSplit(e));
            return openUpToFirstToken(
              info,
              e,
              l,
              continuationBody(body, snapshot, e, operation) as Json,
              true,
            );
          },
        );
        const to = rescue.lease.endpoint.name;
        ctx.metrics.rescue(lease.endpoint.name, to, f.cause);
        ctx.events?.({ kind: 'rescue', requestId: trace.id, from: lease.endpoint.name, to, cause: f.cause });
        // A continuation on the endpoint that was cut is no failover to itself.
        if (to !== lease.endpoint.name) ctx.metrics.failover(lease.endpoint.name, to, f.cause);
        rescues.push({ from: lease.endpoint.name, to, cause: f.cause, after_tokens: snapshot.tokens });
        lease = rescue.lease;
        opened = rescue.value;
      } catch {
        if (signal.aborted) return { status: 200, outcome: 'cancelled', endpoint: lease.endpoint, model };
        // The rescue's own failures (a prefill rejection, say) never replace the original cause.
        break;
      }
    }
  }
  const original = failure as UpstreamFailure;
  const message = `${original.endpoint}: ${original.cause}: ${original.message} (after ${partial.tokens} tokens; the answer is incomplete)`;
  write(
    `data: ${JSON.stringify({ error: { message, type: 'upstream_error', param: null, code: original.cause } })}\n\n`,
  );
  res.end();
  // Charged to the endpoint where the answer broke, not to a rescuer that refused afterwards.
  const brokeOn = ctx.fleet.endpoints.find((e) => e.name === original.endpoint) ?? lease.endpoint;
  return {
    status: 200,
    outcome: original.cause.endsWith('_timeout') ? 'timeout' : 'upstream_error',
    endpoint: brokeOn,
    model,
    errorMessage: message,
  };
}

function modelOf(data: string): string | undefined {
  const m = /"model"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(data);
  return m ? m[1] : undefined;
}

function idOf(data: string): string | undefined {
  const m = /"id"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(data);
  return m ? (JSON.parse(`"${m[1]}"`) as string) : undefined;
}

/** A chunk without the running usage the gateway asked for (vLLM puts it last, flat). */
function withoutUsage(data: string): string {
  // One native replace: its result is a flat string, which the socket write needs anyway (splicing
  // two slices around the usage measured slower in the gateway, for all it ran faster alone).
  return data.replace(/,\s*"usage"\s*:\s*\{[^{}]*\}(?=\s*\}$)/, '');
}

/** A continuation's token chunk whose text the gateway re-split into the right fields. */
function rewriteDelta(
  data: string,
  reasoning: string,
  content: string,
  reasoningKeys: readonly string[],
): string {
  try {
    const chunk = JSON.parse(data) as Json;
    const choice = (chunk.choices as Json[] | undefined)?.[0];
    if (!choice) return data;
    const delta: Json = { ...(choice.delta as Json | undefined) };
    delete delta.reasoning;
    delete delta.reasoning_content;
    delta.content = content;
    if (reasoning !== '') for (const key of reasoningKeys) delta[key] = reasoning;
    choice.delta = delta;
    return JSON.stringify(chunk);
  } catch {
    return data;
  }
}

/**
 * A chunk of a rescued stream: the first stream's id (one stream, one identity), the whole answer's
 * usage (the continuation's own covers only its part), and on the final chunks the `llm_fleet`
 * extension that says what happened (the headers went out before the rescue).
 */
function rescuedChunk(
  data: string,
  change: {
    id: string | undefined;
    usage?: { prompt: number | undefined; completion: number };
    /** Running usage the client did not ask for: taken off. */
    dropUsage?: boolean;
    rescues?: readonly RescueNote[];
  },
): string {
  try {
    const chunk = JSON.parse(data) as Json;
    if (change.id !== undefined) chunk.id = change.id;
    if (change.dropUsage) delete chunk.usage;
    else if (change.usage && chunk.usage && typeof chunk.usage === 'object') {
      const usage = { ...(chunk.usage as Json) };
      const { prompt, completion } = change.usage;
      if (prompt !== undefined) usage.prompt_tokens = prompt;
      usage.completion_tokens = completion;
      if (prompt !== undefined) usage.total_tokens = prompt + completion;
      chunk.usage = usage;
    }
    if (change.rescues) chunk.llm_fleet = { rescued: true, rescues: change.rescues };
    return JSON.stringify(chunk);
  } catch {
    return data;
  }
}
