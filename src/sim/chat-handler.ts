// Chat and text completions: validation as each real server does it, then the simulated run —
// queue for a sequence slot, prefill (TTFT), decode token by token at absolute times — with the
// stream faults applied on the way and the ground truth written at the end.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Scheduled } from './clock.ts';
import { nowMs, runAt, toEpochMs } from './clock.ts';
import type { SimEndpoint } from './endpoint.ts';
import type { EngineJob, EngineTicket } from './engine/batch-engine.ts';
import type { WireError } from './errors-wire.ts';
import {
  contextError,
  dialectError,
  LLAMACPP_HTTP_FIRST_ERROR,
  llamacppLegacyStreamError,
  VLLM_RENDERER_WORDING,
} from './errors-wire.ts';
import type { FaultSpec } from './faults.ts';
import { applyStop, planOutput, simAnswer } from './generator.ts';
import type { OutputPlan } from './generator.ts';
import { logNormalFactor, meanItlMs, sigmaForP99Ratio } from './latency.ts';
import { llamacppWire, llamacppFingerprint, timingsJson } from './llamacpp.ts';
import { MLX_DEFAULT_MAX_TOKENS, mlxFingerprint, mlxRefusal, mlxWire } from './mlx.ts';
import type { SimChatMessage } from './prompt.ts';
import {
  chatAnswerKey,
  chatPromptTokens,
  messagePrefixes,
  readMessages,
  renderChatPrompt,
  textAnswerKey,
} from './prompt.ts';
import { countSimTokens, fnv1a, scaleTokenCount } from './tokenizer.ts';
import { pythonJson } from './wire.ts';
import type { TruthDraft } from './truth.ts';
import { vllmWire } from './vllm.ts';
import type { SimToken } from './reasoning-split.ts';
import { continuationLabelling, labelTokens, LLAMACPP_PREFILL_THINKING_ERROR } from './reasoning-split.ts';
import { atLeast } from './version.ts';
import type { ChatWire, FinishReason, StreamIds, TokenKind } from './wire.ts';

/** A validated request, ready to run. */
interface ChatJob {
  readonly chat: boolean;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly promptTokens: number;
  readonly cachedPromptTokens: number;
  readonly plan: OutputPlan;
  /** The emitted tokens, each in the field the server's parser puts it in. */
  readonly tokens: readonly SimToken[];
  /** Counts on every chunk: vLLM continuous_usage_stats ('usage'), llama.cpp timings_per_token. */
  readonly runningCounts?: 'usage' | 'timings';
  readonly requestedModel: string | undefined;
  /** The prompt as the server sees it (chat template applied), and max_tokens (-1: none), for /slots. */
  readonly promptText: () => string;
  readonly nPredict: number;
}

/** mlx_lm learned stream_options.include_usage in PR #913 (2024-07-26, while at 0.16.0; 0.17.0 is the next version, 2024-08-16). */
const MLX_STREAM_USAGE_SINCE = '0.17.0';

type Body = Record<string, unknown>;

const wires = new Map<string, ChatWire>();
function wireFor(endpoint: SimEndpoint): ChatWire {
  const key = `${endpoint.dialect}@${endpoint.version}`;
  let wire = wires.get(key);
  if (!wire) {
    wire =
      endpoint.dialect === 'vllm'
        ? vllmWire(endpoint.version)
        : endpoint.dialect === 'mlx'
          ? mlxWire()
          : llamacppWire();
    wires.set(key, wire);
  }
  return wire;
}

/**
 * Writes one chunk of a streamed body. Once the headers are out, the chunk goes straight to the
 * socket with the same chunked-encoding framing Node would add: one socket write per token instead
 * of http's per-write cork/uncork round, which is most of the simulator's cost per token.
 */
export function writeChunk(res: ServerResponse, text: string): void {
  const socket = res.socket;
  if (
    socket !== null &&
    res.headersSent &&
    (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding === true &&
    !res.writableEnded &&
    socket.writable
  ) {
    socket.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`);
  } else {
    res.write(text);
  }
}

export function handleChat(
  endpoint: SimEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  rawBody: string,
  arrivalMs: number,
): void {
  const chat = path.endsWith('chat/completions');
  const { dialect, version } = endpoint;
  if (dialect === 'tei') {
    endpoint.sendError(res, { status: 404, contentType: 'text/plain', body: '' });
    return;
  }
  let body: Body;
  try {
    const parsed = JSON.parse(rawBody) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    body = parsed as Body;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if (dialect === 'mlx')
      endpoint.sendJson(res, 400, `{"error": "Invalid JSON in request body: ${detail.replace(/"/g, "'")}"}`);
    else
      endpoint.sendError(
        res,
        dialectError(
          dialect,
          version,
          400,
          `JSON decode error: ${detail}`,
          dialect === 'vllm' ? 'Bad Request' : undefined,
        ),
      );
    return;
  }
  const stream = body.stream === true;
  const id = endpoint.responseId(chat ? 'chatcmpl' : 'cmpl', req);
  const truth = endpoint.newTruth(req, id, path, arrivalMs, stream);
  const fault = endpoint.pickFault(req, true);
  if (endpoint.applyEarlyFault(req, res, fault, truth)) return;

  const job = validate(endpoint, req, res, body, chat, stream, fault, truth);
  if (job === undefined) return;
  truth.promptTokens = job.promptTokens;
  truth.cachedPromptTokens = job.cachedPromptTokens;
  new ChatRun(endpoint, res, wireFor(endpoint), job, fault, truth, arrivalMs, id).begin();
}

/** Returns the job, or undefined after answering the request with the dialect's error. */
function validate(
  endpoint: SimEndpoint,
  req: IncomingMessage,
  res: ServerResponse,
  body: Body,
  chat: boolean,
  stream: boolean,
  fault: FaultSpec | undefined,
  truth: TruthDraft,
): ChatJob | undefined {
  const { dialect, version } = endpoint;
  // A refused request is in the ground truth too (status 0: the connection closed unanswered).
  const fail = (e: WireError | undefined): undefined => {
    truth.status = e?.status ?? 0;
    truth.outcome = 'error';
    truth.endAtMs = toEpochMs(nowMs());
    endpoint.recordTruth(truth);
    if (e) endpoint.sendError(res, e);
    else req.socket.destroy();
    return undefined;
  };
  const bad = (message: string, type?: string): undefined =>
    fail(dialectError(dialect, version, 400, message, type));
  // mlx_lm raises outside any try block on bad parameters: the connection just closes.
  const mlxClose = (): undefined => fail(undefined);

  if (dialect === 'vllm' && endpoint.kind === 'embeddings') {
    return bad(`The model does not support ${chat ? 'Chat Completions' : 'Completions'} API`);
  }
  // mlx_lm validates every sampling parameter before it loads the model; a refusal closes the socket.
  if (dialect === 'mlx' && mlxRefusal(body, version) !== undefined) return mlxClose();
  if (dialect === 'mlx' && endpoint.options.refuseFields?.some((f) => f in body)) return mlxClose();
  const requestedModel = typeof body.model === 'string' ? body.model : undefined;
  if (dialect === 'vllm' && requestedModel !== undefined && !endpoint.models.includes(requestedModel)) {
    return fail(
      dialectError('vllm', version, 404, `The model \`${requestedModel}\` does not exist.`, 'NotFoundError'),
    );
  }
  if (
    dialect === 'mlx' &&
    requestedModel !== undefined &&
    !endpoint.models.includes(requestedModel) &&
    requestedModel !== 'default_model'
  ) {
    return fail(
      dialectError(
        'mlx',
        version,
        404,
        `404 Client Error. Repository Not Found for url: https://huggingface.co/api/models/${requestedModel}/revision/main.`,
      ),
    );
  }
  const temperature = body.temperature;
  const maxTokensRaw = body.max_completion_tokens ?? body.max_tokens;
  if (
    temperature !== undefined &&
    temperature !== null &&
    (typeof temperature !== 'number' || temperature < 0)
  ) {
    if (dialect === 'vllm') return bad(`temperature must be non-negative, got ${String(temperature)}.`);
  }
  if (
    maxTokensRaw !== undefined &&
    maxTokensRaw !== null &&
    (typeof maxTokensRaw !== 'number' || !Number.isInteger(maxTokensRaw) || maxTokensRaw < 0)
  ) {
    return bad(
      dialect === 'vllm'
        ? `max_tokens must be at least 1, got ${String(maxTokensRaw)}.`
        : '"max_tokens" must be a non-negative integer',
    );
  }
  if (dialect === 'vllm' && maxTokensRaw === 0) return bad('max_tokens must be at least 1, got 0.');
  // llama-server throws std::runtime_error here, which its handler answers as a 500 server_error
  // (only std::invalid_argument becomes a 400): a client mistake that looks like a server fault.
  if (dialect === 'llamacpp' && body.n !== undefined && body.n !== null && body.n !== 1) {
    return fail(
      dialectError('llamacpp', version, 500, 'Only one completion choice is allowed', 'server_error'),
    );
  }
  if (dialect === 'vllm' && body.stream_options !== undefined && body.stream_options !== null && !stream) {
    return bad('Stream options can only be defined when `stream=True`.');
  }

  let messages: SimChatMessage[] = [];
  let prompt = '';
  let continuing = false;
  if (chat) {
    const read = readMessages(body.messages);
    if (read === undefined || read.length === 0) {
      if (dialect === 'mlx') return mlxClose();
      return dialect === 'vllm'
        ? bad(
            "[{'type': 'missing', 'loc': ('body', 'messages'), 'msg': 'Field required', 'input': {}}]",
            'Bad Request',
          )
        : bad("'messages' is required");
    }
    messages = read;
    const lastIsAssistant = messages.at(-1)?.role === 'assistant';
    if (dialect === 'vllm' && body.continue_final_message === true) {
      if (body.add_generation_prompt !== false) {
        return bad('Cannot set both `continue_final_message` and `add_generation_prompt` to True.');
      }
      if (!lastIsAssistant) {
        return bad(
          'continue_final_message is set but the final message does not appear in the chat after applying the chat template!',
        );
      }
      continuing = true;
    }
    // llama-server treats a trailing assistant message as a prefill to continue, but not with a
    // thinking template (the simulated reasoning model's supports enable_thinking, on by default).
    if (dialect === 'llamacpp' && lastIsAssistant) {
      const kwargs = body.chat_template_kwargs as { enable_thinking?: unknown } | undefined | null;
      if (endpoint.reasoning && kwargs?.enable_thinking !== false)
        return bad(LLAMACPP_PREFILL_THINKING_ERROR);
      continuing = true;
    }
  } else {
    const p = body.prompt;
    prompt = typeof p === 'string' ? p : Array.isArray(p) && typeof p[0] === 'string' ? p[0] : '';
    if (typeof p !== 'string' && !Array.isArray(p)) {
      if (dialect === 'mlx') return mlxClose();
      return bad(
        dialect === 'vllm'
          ? 'Either prompt or prompt_embeds must be provided and non-empty.'
          : '"prompt" must be provided',
      );
    }
  }

  const promptTokens = scaleTokenCount(
    chat ? chatPromptTokens(messages, { continueFinal: continuing }) : countSimTokens(prompt),
    endpoint.options.promptTokenRatio ?? 1,
  );
  const ctx = endpoint.contextWindowTokens;
  const requested = typeof maxTokensRaw === 'number' ? maxTokensRaw : undefined;
  let maxTokens: number;
  // llama.cpp before PR #16486 sends a first-result error inside a 200 event stream.
  const failContext = (e: WireError | undefined): undefined => {
    if (e && dialect === 'llamacpp' && stream && !atLeast(version, LLAMACPP_HTTP_FIRST_ERROR)) {
      truth.status = 200;
      truth.outcome = 'error';
      endpoint.recordTruth(truth);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(llamacppLegacyStreamError(e));
      return undefined;
    }
    return fail(e);
  };
  const renderer = dialect === 'vllm' && atLeast(version, VLLM_RENDERER_WORDING);
  if (fault?.kind === 'context-400') {
    const form = fault.form ?? 'prompt';
    const overflow =
      form === 'max-tokens'
        ? {
            promptTokens: Math.min(promptTokens, ctx - 1),
            maxTokens: Math.max(requested ?? 0, ctx - Math.min(promptTokens, ctx - 1) + 1),
          }
        : form === 'over-window'
          ? { promptTokens, maxTokens: Math.max(requested ?? 0, ctx + 1) }
          : { promptTokens: Math.max(promptTokens, ctx + 1), maxTokens: renderer ? requested : undefined };
    const e = contextError(dialect, version, { ...overflow, contextWindowTokens: ctx, chat });
    if (e) return failContext(e);
    return bad('context length exceeded (simulated)');
  }
  if (dialect === 'vllm') {
    if (renderer && requested !== undefined && requested > ctx)
      return fail(
        contextError('vllm', version, { promptTokens, contextWindowTokens: ctx, chat, maxTokens: requested }),
      );
    if (promptTokens >= ctx)
      return fail(
        contextError('vllm', version, {
          promptTokens,
          contextWindowTokens: ctx,
          chat,
          maxTokens: renderer ? requested : undefined,
        }),
      );
    if (requested !== undefined && promptTokens + requested > ctx) {
      return fail(
        contextError('vllm', version, { promptTokens, contextWindowTokens: ctx, chat, maxTokens: requested }),
      );
    }
    maxTokens = requested ?? ctx - promptTokens;
  } else if (dialect === 'llamacpp') {
    if (promptTokens >= ctx)
      return failContext(contextError('llamacpp', version, { promptTokens, contextWindowTokens: ctx, chat }));
    // No max_tokens + prompt check: generation stops at the context edge with finish_reason length.
    maxTokens = Math.min(requested ?? Number.MAX_SAFE_INTEGER, ctx - promptTokens);
  } else {
    maxTokens = requested ?? MLX_DEFAULT_MAX_TOKENS;
  }

  const prefill = continuing ? (messages.at(-1)?.content ?? '') : undefined;
  const keyMessages = continuing ? messages.slice(0, -1) : messages;
  const drawn = simAnswer(
    endpoint.seed,
    chat ? chatAnswerKey(keyMessages) : textAnswerKey(prompt),
    chat && endpoint.reasoning,
  );
  const natural = endpoint.options.naturalAnswerTokens;
  const answer = natural === undefined ? drawn : { ...drawn, naturalContentTokens: natural };
  const forced = endpoint.options.ignoresForcedLength !== true;
  const ignoreEos = forced && dialect !== 'mlx' && body.ignore_eos === true;
  const minTokens = forced && dialect === 'vllm' && typeof body.min_tokens === 'number' ? body.min_tokens : 0;
  const stops =
    typeof body.stop === 'string'
      ? [body.stop]
      : Array.isArray(body.stop)
        ? body.stop.filter((x): x is string => typeof x === 'string')
        : [];
  const planned = planOutput(answer, { maxTokens, ignoreEos, minTokens, prefill });
  const plan = stops.length > 0 && !ignoreEos ? applyStop(planned, stops) : planned;
  // A continued answer on a reasoning model: the parser never sees the prompt's `<think>`.
  const stood = prefill?.startsWith('<think>') && !prefill.includes('</think>') ? 'reasoning' : 'content';
  const labelling =
    continuing && chat && endpoint.reasoning && dialect !== 'tei'
      ? continuationLabelling(dialect, version, endpoint.reasoningParser, stood)
      : 'split';
  const tokens = labelTokens(plan.reasoning, plan.content, labelling, stood);
  const prefixes = chat ? messagePrefixes(messages) : [{ hash: fnv1a(prompt), tokens: promptTokens }];
  const cachedPromptTokens = Math.min(endpoint.cachedPromptTokens(prefixes), Math.max(0, promptTokens - 1));
  const streamOptions = body.stream_options as { include_usage?: unknown } | undefined | null;
  return {
    chat,
    stream,
    includeUsage:
      stream &&
      streamOptions?.include_usage === true &&
      endpoint.options.sendsUsage !== false &&
      (dialect !== 'mlx' || atLeast(version, MLX_STREAM_USAGE_SINCE)),
    runningCounts:
      stream && dialect === 'vllm' && streamOptions?.include_usage === true
        ? (streamOptions as { continuous_usage_stats?: unknown }).continuous_usage_stats === true &&
          endpoint.options.sendsUsage !== false
          ? 'usage'
          : undefined
        : stream && dialect === 'llamacpp' && body.timings_per_token === true
          ? 'timings'
          : undefined,
    promptTokens,
    cachedPromptTokens,
    plan,
    tokens,
    requestedModel,
    promptText: () => (chat ? renderChatPrompt(messages, { continueFinal: continuing }) : prompt),
    nPredict: requested ?? -1,
  };
}

/**
 * One request's life after validation. The engine (engine/batch-engine.ts) decides when each token
 * is produced; a fault that takes over the timing (a stall that resumes, slow decode) detaches the
 * request from the engine and paces the rest itself. Every write happens at a scheduled time.
 */
class ChatRun {
  private readonly tokens: readonly SimToken[];
  private readonly ids: StreamIds;
  private readonly rateFactor: number;
  private readonly itlSigma: number;
  private scheduled: Scheduled | undefined;
  private ticket: EngineTicket | undefined;
  /** Detached from the engine: this run schedules its own remaining tokens. */
  private selfPaced = false;
  /** The slot this request occupies in the /slots view. */
  private slotId: number | undefined;
  private done = false;
  private startedAtMs = 0;
  private firstTokenAtMs = 0;
  private lastTokenAtMs = 0;
  /** Monotonic time of the last write on the stream (for llama.cpp keep-alive pings). */
  private lastWriteMs = 0;
  private finishSent = false;
  /** Streamed tokens decoded but not yet written (tokensPerChunk > 1), and text to write before them. */
  private pending: { kind: TokenKind; text: string; scheduledMs: number }[] = [];
  private pendingOut = '';
  private drainWait = false;
  private readonly cancel = (): void => this.abort('server-closed');

  private readonly endpoint: SimEndpoint;
  private readonly res: ServerResponse;
  private readonly wire: ChatWire;
  private readonly job: ChatJob;
  private readonly fault: FaultSpec | undefined;
  private readonly truth: TruthDraft;
  private readonly arrivalMs: number;

  constructor(
    endpoint: SimEndpoint,
    res: ServerResponse,
    wire: ChatWire,
    job: ChatJob,
    fault: FaultSpec | undefined,
    truth: TruthDraft,
    arrivalMs: number,
    id: string,
  ) {
    this.endpoint = endpoint;
    this.res = res;
    this.wire = wire;
    this.job = job;
    this.fault = fault;
    this.truth = truth;
    this.arrivalMs = arrivalMs;
    this.tokens = job.tokens;
    const model =
      endpoint.dialect === 'vllm'
        ? // A LoRA adapter answers under its own name.
          job.requestedModel !== undefined && endpoint.models.includes(job.requestedModel)
          ? job.requestedModel
          : endpoint.model
        : (job.requestedModel ?? (endpoint.dialect === 'mlx' ? 'default_model' : endpoint.model));
    const fingerprint =
      endpoint.dialect === 'mlx'
        ? mlxFingerprint(endpoint.version)
        : endpoint.dialect === 'llamacpp'
          ? llamacppFingerprint(endpoint.version)
          : '';
    this.ids = {
      id,
      created: Math.floor(Date.now() / 1000),
      model,
      fingerprint,
      stopReason: job.plan.stopReason,
    };
    const l = endpoint.latency;
    this.rateFactor = logNormalFactor(endpoint.rand, sigmaForP99Ratio(l.decodeRateJitterP99Ratio));
    this.itlSigma = sigmaForP99Ratio(l.itlJitterP99Ratio);
  }

  begin(): void {
    this.endpoint.inFlight.add(this.cancel);
    this.res.on('close', () => {
      if (!this.done) this.abort('client-abort');
    });
    if (this.job.stream && this.wire.headersBeforeFirstToken) this.writeHeaders();
    this.ticket = this.endpoint.submit(this.engineJob());
  }

  private engineJob(): EngineJob {
    const total = this.tokens.length;
    const uncached = this.job.promptTokens - this.job.cachedPromptTokens;
    const keepalives = this.job.stream && this.wire.prefillComment !== undefined && uncached > 0;
    return {
      promptTokens: this.job.promptTokens,
      cachedPromptTokens: this.job.cachedPromptTokens,
      // A natural stop costs one more step (the EOS token); a length cut ends with the last token.
      outputs: total === 0 ? 1 : total + (this.job.plan.finishReason === 'stop' ? 1 : 0),
      rateFactor: this.rateFactor,
      extraDelayMs: this.fault?.kind === 'slow-first-token' ? (this.fault.delayMs ?? 5_000) : 0,
      onStart: (atMs) => {
        this.occupySlot(atMs);
        this.startedAtMs = atMs;
        // From arrival (body read, validation, start-up, the waiting queue) to admission, as it
        // happened (a step that ends late admits late).
        this.truth.queueMs = Math.max(atMs, nowMs()) - this.arrivalMs;
      },
      onPrefill: keepalives
        ? (done) => this.keepalive(done - this.job.cachedPromptTokens, uncached)
        : undefined,
      onOutput: (i, atMs) => {
        if (this.done || this.selfPaced) return;
        if (i === 0) {
          this.firstTokenAtMs = atMs;
          this.truth.scheduledTtftMs = atMs - this.arrivalMs;
          // mlx_lm reports the last prefill step just before the first token.
          if (keepalives) this.keepalive(uncached, uncached);
        }
        if (i >= total && total > 0) this.finish(atMs);
        else this.emitToken(i, atMs, nowMs() - atMs);
      },
    };
  }

  private occupySlot(atMs: number): void {
    // Only llama-server has slots to show (and a vLLM table of max_num_seqs entries would cost a scan per request).
    if (this.endpoint.dialect !== 'llamacpp') return;
    const table = this.endpoint.slotTable;
    const run = this.truth;
    const tokens = this.tokens;
    this.slotId = table.occupy(
      {
        idTask: table.taskId(),
        nPredict: this.job.nPredict,
        promptTokens: this.job.promptTokens,
        cachedPromptTokens: this.job.cachedPromptTokens,
        prompt: this.job.promptText,
        decoded: () => run.completionTokens,
        generated: () =>
          tokens
            .slice(0, run.completionTokens)
            .map((t) => t.text)
            .join(''),
      },
      atMs,
    );
  }

  private keepalive(done: number, total: number): void {
    if (!this.done && !this.res.destroyed) this.res.write(this.wire.prefillComment?.(done, total) ?? '');
  }

  /** A fault takes over the timing: the engine forgets this request. */
  private detach(): void {
    this.selfPaced = true;
    this.releaseSlot();
  }

  private emitToken(i: number, scheduledMs: number, lateMs: number): void {
    if (this.done) return;
    const f = this.fault;
    const total = this.tokens.length;
    if (f && (f.kind === 'cut' || f.kind === 'stall') && i === (f.afterTokens ?? 0) && i < total) {
      // A fault "after N tokens" comes after N tokens the client has seen.
      this.flushPending();
      if (f.kind === 'cut') {
        this.truth.outcome = 'fault';
        this.truth.fault = 'cut';
        this.finishTruth(200);
        // Close once what was written is out (tokens of one engine step go out in one turn).
        this.res.socket?.destroySoon();
        return;
      }
      this.truth.fault = 'stall';
      if (f.delayMs === undefined) {
        // Silent but open until the client gives up (or the simulator closes).
        this.truth.outcome = 'fault';
        this.endpoint.held.add(this.res);
        this.res.on('close', () => this.endpoint.held.delete(this.res));
        this.releaseSlot();
        this.finishTruth(200);
        return;
      }
      this.detach();
      // The pause counts from when the last token went out (a late step writes late).
      const resumeAt = Math.max(scheduledMs, nowMs()) + f.delayMs;
      this.at(resumeAt, (late) => this.emitTokenNow(i, resumeAt, late));
      return;
    }
    if (f?.kind === 'midstream-error' && i === (f.afterTokens ?? 0) && i < total && this.job.stream) {
      this.flushPending();
      const event = this.wire.midStreamError('simulated error during generation');
      this.truth.outcome = 'fault';
      this.truth.fault = 'midstream-error';
      this.releaseSlot();
      this.finishTruth(200);
      if (!this.res.headersSent) this.writeHeaders();
      if (event === 'close') this.res.socket?.destroySoon();
      else this.res.end(event);
      return;
    }
    this.emitTokenNow(i, scheduledMs, lateMs);
  }

  private emitTokenNow(i: number, scheduledMs: number, _schedulerLateMs: number): void {
    const total = this.tokens.length;
    // Lateness as of this write (other writes due at the same moment may have gone first).
    const nowMono = nowMs();
    const lateMs = nowMono - scheduledMs;
    const wall = toEpochMs(nowMono);
    if (i === 0) {
      if (this.job.stream && !this.res.headersSent) this.writeHeaders();
    }
    if (i >= total) {
      // Nothing to emit (max_tokens reached by a prefill, or a continuation at its end).
      if (this.job.stream) {
        const role = this.wire.roleEvent(this.ids);
        if (role) this.res.write(role);
      }
      this.lastTokenAtMs = scheduledMs;
      this.finish(scheduledMs);
      return;
    }
    const token = this.tokens[i] as SimToken;
    const last = i === total - 1;
    const finishHere = last && this.wire.finishOnLastToken && this.job.plan.finishReason === 'length';
    if (this.job.stream) {
      const f = this.fault;
      if (f?.kind === 'malformed' && i === (f.afterTokens ?? 0)) {
        this.pendingOut += `data: {"id":"${this.ids.id}","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":\n\n`;
        this.truth.fault = 'malformed';
      }
      this.pending.push({ ...token, scheduledMs });
      // The first token goes out alone (the prefill step yields one); then tokensPerChunk at a time.
      if (i === 0 || last) this.flushPending(finishHere, nowMono);
      else if (i % this.endpoint.tokensPerChunk === 0 || this.pending.length > this.endpoint.tokensPerChunk) {
        if (this.readerLags()) this.flushOnDrain();
        else this.flushPending(false, nowMono);
      }
    } else {
      this.truth.tokenTimesMs.push(wall);
      this.truth.tokenLatenessMs.push(lateMs);
    }
    if (i === 0) {
      this.truth.ttftMs = wall - this.truth.arrivalMs;
      this.endpoint.metrics.ttft.observe((scheduledMs + lateMs - this.arrivalMs) / 1000);
    } else {
      this.endpoint.metrics.itl.observe((scheduledMs - this.lastTokenAtMs) / 1000);
    }
    if (token.kind === 'content' && this.truth.ttftContentMs === undefined)
      this.truth.ttftContentMs = wall - this.truth.arrivalMs;
    if (token.kind === 'reasoning') this.truth.reasoningTokens++;
    this.truth.completionTokens++;
    this.endpoint.metrics.generationTokens++;
    this.lastTokenAtMs = scheduledMs;

    if (!this.selfPaced && this.slowDecodeAfter(i)) this.detach();
    if (!this.selfPaced) {
      // The engine produces the next token (or the EOS step) at the end of a later step.
      if (last && this.job.plan.finishReason !== 'stop') this.finish(scheduledMs);
      return;
    }
    const itl = this.nextItlMs(i);
    if (last) {
      // A natural stop costs one more step (the EOS token); a length cut ends right away.
      const endAt = this.job.plan.finishReason === 'stop' ? scheduledMs + itl : scheduledMs;
      if (endAt <= scheduledMs) this.finish(scheduledMs);
      else this.at(endAt, () => this.finish(endAt));
      return;
    }
    const nextAt = scheduledMs + itl;
    this.at(nextAt, (late) => this.emitToken(i + 1, nextAt, late));
  }

  /**
   * Writes the tokens decoded since the last write: one event per run of the same kind (reasoning,
   * content), all in one socket write. `finish` puts a 'length' finish on the last event (vLLM).
   */
  private flushPending(finish = false, atMono = nowMs()): void {
    if (this.pending.length === 0) return;
    const first = this.truth.tokenTimesMs.length === 0;
    let out = first ? (this.wire.roleEvent(this.ids) ?? '') : '';
    if (first) out = this.withRunningCounts(out, 0, atMono);
    out += this.pendingOut;
    const runs: { kind: TokenKind; text: string; tokens: number }[] = [];
    for (const t of this.pending) {
      const run = runs.at(-1);
      if (run?.kind === t.kind) {
        run.text += t.text;
        run.tokens++;
      } else runs.push({ kind: t.kind, text: t.text, tokens: 1 });
    }
    let emitted = this.truth.tokenTimesMs.length;
    runs.forEach((run, r) => {
      const reason = finish && r === runs.length - 1 ? 'length' : null;
      emitted += run.tokens;
      out += this.withRunningCounts(
        this.job.chat
          ? this.wire.tokenEvent(this.ids, run.kind, run.text, first && r === 0, reason)
          : this.wire.textEvent(this.ids, run.text, reason),
        emitted,
        atMono,
      );
    });
    if (finish) this.finishSent = true;
    writeChunk(this.res, out);
    this.lastWriteMs = atMono;
    const wall = toEpochMs(atMono);
    for (const t of this.pending) {
      this.truth.tokenTimesMs.push(wall);
      this.truth.tokenLatenessMs.push(atMono - t.scheduledMs);
    }
    this.pending = [];
    this.pendingOut = '';
  }

  /**
   * Running counts on a stream event, when asked: vLLM's `continuous_usage_stats` (usage on every
   * chunk, completion tokens so far) and llama.cpp's `timings_per_token` (timings on every chunk).
   */
  private withRunningCounts(event: string, completionTokens: number, atMono: number): string {
    if (event === '' || this.job.runningCounts === undefined) return event;
    const { promptTokens, cachedPromptTokens } = this.job;
    const field =
      this.job.runningCounts === 'usage'
        ? `,"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens + completionTokens},"completion_tokens":${completionTokens}}`
        : `,"timings":${timingsJson(
            {
              promptMs: this.firstTokenAtMs - this.startedAtMs,
              predictedMs: Math.max(0, atMono - this.firstTokenAtMs),
            },
            { promptTokens, completionTokens, cachedPromptTokens },
          )}`;
    // One `data: {…}` event per call: the field goes in before its closing brace.
    const end = event.lastIndexOf('}');
    return end < 0 ? event : `${event.slice(0, end)}${field}${event.slice(end)}`;
  }

  /**
   * vLLM's V1 engine (≥ 0.8) hands each request's outputs to the HTTP side through a one-slot
   * collector that merges new deltas into the pending one while the consumer is busy
   * (RequestOutputCollector.put): a client that reads slowly gets fewer, larger events. Here the
   * consumer is busy while the socket's write buffer is over its high-water mark.
   */
  private readerLags(): boolean {
    return (
      this.endpoint.dialect === 'vllm' &&
      atLeast(this.endpoint.version, '0.8.0') &&
      this.res.socket?.writableNeedDrain === true
    );
  }

  private flushOnDrain(): void {
    if (this.drainWait) return;
    this.drainWait = true;
    this.res.socket?.once('drain', () => {
      this.drainWait = false;
      if (!this.done) this.flushPending();
    });
  }

  private slowDecodeAfter(i: number): boolean {
    const f = this.fault;
    return f?.kind === 'slow-decode' && i + 1 >= (f.afterTokens ?? 1);
  }

  private nextItlMs(i: number): number {
    const f = this.fault;
    if (f?.kind === 'slow-decode' && this.slowDecodeAfter(i)) {
      return (1000 / (f.tokensPerSecond ?? 1)) * this.endpoint.latency.scale;
    }
    return (
      meanItlMs(this.endpoint.latency, this.endpoint.metrics.running, this.rateFactor) *
      logNormalFactor(this.endpoint.rand, this.itlSigma)
    );
  }

  private finish(atMs: number): void {
    if (this.done) return;
    const usage = {
      promptTokens: this.job.promptTokens,
      // mlx_lm appends each generated token to its list before the stop check, so the EOS that
      // ended the answer (never sent: its text is empty) is counted in usage (server.py
      // handle_completion).
      completionTokens: this.tokens.length + (this.countsEos() ? 1 : 0),
      cachedPromptTokens: this.job.cachedPromptTokens,
    };
    const timings = {
      promptMs: this.firstTokenAtMs - this.startedAtMs,
      predictedMs: Math.max(0, atMs - this.firstTokenAtMs),
    };
    const finish: FinishReason = this.job.plan.finishReason;
    if (this.job.stream) {
      const withDone = this.fault?.kind !== 'no-done';
      if (!withDone) this.truth.fault = 'no-done';
      const end = this.job.chat
        ? this.wire.endEvents(
            this.ids,
            finish,
            this.finishSent,
            usage,
            this.job.includeUsage,
            timings,
            withDone,
            this.job.runningCounts === 'usage',
          )
        : (this.finishSent
            ? ''
            : this.job.runningCounts === 'usage'
              ? this.withRunningCounts(
                  this.wire.textEvent(this.ids, '', finish),
                  usage.completionTokens,
                  nowMs(),
                )
              : this.wire.textEvent(this.ids, '', finish)) +
          (this.job.includeUsage ? this.wire.textUsageEvent(this.ids, usage) : '') +
          (withDone ? 'data: [DONE]\n\n' : '');
      this.res.end(end);
    } else {
      const textOf = (kind: SimToken['kind']): string =>
        this.tokens
          .filter((t) => t.kind === kind)
          .map((t) => t.text)
          .join('');
      const reasoning = textOf('reasoning');
      const content = textOf('content');
      const body = this.job.chat
        ? this.wire.completionBody(this.ids, reasoning, content, finish, usage, timings)
        : this.wire.textBody(this.ids, content, finish, usage);
      this.endpoint.sendJson(
        this.res,
        200,
        this.endpoint.options.sendsUsage === false ? withoutUsage(body, this.endpoint.dialect) : body,
      );
    }
    this.truth.finishReason = finish;
    if (this.truth.fault !== undefined) this.truth.outcome = 'fault';
    const m = this.endpoint.metrics;
    m.success[finish]++;
    m.e2e.observe((atMs - this.arrivalMs) / 1000);
    m.queue.observe(this.truth.queueMs / 1000);
    m.promptTokens += this.job.promptTokens;
    m.cachedPromptTokens += this.job.cachedPromptTokens;
    m.prefixQueries += this.job.promptTokens;
    m.prefixHits += this.job.cachedPromptTokens;
    m.promptSeconds += timings.promptMs / 1000;
    m.decodeSeconds += timings.predictedMs / 1000;
    this.releaseSlot();
    this.finishTruth(200);
  }

  /** mlx_lm's usage includes the EOS token of an answer that stopped on its own. */
  private countsEos(): boolean {
    return (
      this.endpoint.dialect === 'mlx' &&
      this.job.plan.finishReason === 'stop' &&
      this.job.plan.stopReason === undefined
    );
  }

  private abort(outcome: 'client-abort' | 'server-closed'): void {
    if (this.done) return;
    if (this.scheduled) this.scheduled.cancelled = true;
    this.releaseSlot();
    this.endpoint.metrics.success.abort++;
    this.truth.outcome = outcome;
    this.finishTruth(this.res.headersSent ? 200 : 0);
    if (!this.res.destroyed) this.res.destroy();
  }

  private releaseSlot(): void {
    this.ticket?.release();
    this.ticket = undefined;
    if (this.slotId !== undefined) this.endpoint.slotTable.vacate(this.slotId, nowMs());
    this.slotId = undefined;
  }

  private finishTruth(status: number): void {
    if (this.done) return;
    this.done = true;
    this.endpoint.inFlight.delete(this.cancel);
    this.truth.status = status;
    this.truth.endAtMs = toEpochMs(nowMs());
    this.endpoint.recordTruth(this.truth);
  }

  private writeHeaders(): void {
    this.truth.headersAtMs = toEpochMs(nowMs());
    this.lastWriteMs = nowMs();
    const pingMs = this.endpoint.options.ssePingIntervalMs ?? 0;
    if (this.endpoint.dialect === 'llamacpp' && pingMs > 0) this.schedulePing(pingMs);
    this.res.writeHead(200, {
      'content-type': this.wire.streamContentType,
      'cache-control': 'no-cache',
    });
    // Send the headers now (vLLM and mlx_lm answer 200 before the first token).
    this.res.flushHeaders();
  }

  /** llama.cpp writes `:\n\n` when the stream has been silent for the ping interval (stalls too). */
  private schedulePing(intervalMs: number): void {
    const at = this.lastWriteMs + intervalMs;
    runAt(at, () => {
      if (this.res.destroyed || this.res.writableEnded) return;
      if (nowMs() - this.lastWriteMs >= intervalMs - 0.001) {
        this.res.write(':\n\n');
        this.lastWriteMs = nowMs();
      }
      this.schedulePing(intervalMs);
    });
  }

  private at(atMs: number, run: (lateMs: number) => void): void {
    this.scheduled = runAt(atMs, run);
  }
}

/** A whole-body answer with its `usage` removed, in the dialect's JSON style (sendsUsage: false). */
function withoutUsage(body: string, dialect: string): string {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  delete parsed.usage;
  return dialect === 'mlx' ? pythonJson(parsed) : JSON.stringify(parsed);
}
