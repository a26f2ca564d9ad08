// Turns an OpenAI-style SSE byte stream into timing facts, by one definition for every server:
// TTFT stops at the first event that carries a content or reasoning token (a role-only chunk, a
// keep-alive comment or a usage chunk never does), tokens come from `usage` when the server sends
// it and from counted chunks only as a flagged fallback. Pure: the caller reads the clock and
// passes the arrival time of every piece, so the same code serves calibrate, bench and the gateway.
// A caller that stamps many streams on one event loop can `queue` pieces (a stamp and a reference,
// nothing more) and `flush` them later: every event still gets the arrival time of the piece that
// completed it, so the result is the one `data` gives, while the decoding no longer delays the
// stamps of the other sockets read in the same turn.
import { SseDecoder } from '../upstream/sse.ts';
import { gaps, streamRates } from './token-rates.ts';
import type { Summary } from './percentiles.ts';
import { summarize } from './percentiles.ts';

/** Why a streamed request did not complete. */
export type StreamFailure =
  /** Non-2xx status before any stream. */
  | 'http_error'
  /** An error event inside the stream (`data: {"error":…}` or llama.cpp's `error:` field). */
  | 'stream_error'
  /** The stream ended without `[DONE]` or broke after the headers (mlx_lm and llama.cpp end so after an error). */
  | 'stream_cut'
  /** The transport failed (refused, reset, timeout); the caller names it. */
  | 'transport';

export interface StreamTiming {
  readonly ok: boolean;
  readonly failure?: StreamFailure;
  readonly errorMessage?: string;
  readonly status?: number;
  /** All times are milliseconds after the request was written. */
  readonly timeToHeadersMs?: number;
  /** First chunk carrying `delta.role` (vLLM sends it alone, before any token). */
  readonly timeToRoleMs?: number;
  /** First event carrying a content or reasoning token (inline `<think>` text is content). */
  readonly ttftMs?: number;
  /** First answer token after the reasoning ended (equals ttftMs for a model that does not reason). */
  readonly timeToFirstAnswerMs?: number;
  /**
   * What the event that stopped the TTFT clock carried: a reasoning token, content (inline `<think>`
   * text included) or a tool call. Order, not time: two events read in one piece share a stamp.
   */
  readonly firstTokenKind?: 'reasoning' | 'content' | 'tool_calls';
  /** Arrival of each token-bearing event. */
  readonly tokenTimesMs: readonly number[];
  readonly lastTokenMs?: number;
  readonly totalMs: number;
  /** Gaps between consecutive token-bearing events. */
  readonly itlMs: Summary;
  readonly completionTokens?: number;
  readonly promptTokens?: number;
  /** `usage`: the server's count. `chunks`: counted events, a fallback that undercounts multi-token chunks. */
  readonly tokenSource?: 'usage' | 'chunks';
  /** (completion tokens − 1) / (last token time − first token time). */
  readonly decodeTokensPerSecond?: number;
  /** Best rate over any 1-second window of the decode phase (see token-rates.ts). */
  readonly burstTokensPerSecond?: number;
  readonly reasoningEvents: number;
  readonly contentEvents: number;
  readonly keepAliveComments: number;
  readonly sawDone: boolean;
  readonly finishReason?: string;
  readonly systemFingerprint?: string;
  readonly model?: string;
  /** The generated text (reasoning, then content), when the timer was asked to keep it. */
  readonly text?: string;
}

export interface StreamTimerOptions {
  /** Keep the generated text (to count its tokens when the server sends no usage). */
  readonly keepText?: boolean;
}

interface ChunkJson {
  error?: unknown;
  model?: unknown;
  system_fingerprint?: unknown;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
  choices?: {
    text?: unknown;
    finish_reason?: unknown;
    delta?: {
      role?: unknown;
      content?: unknown;
      reasoning_content?: unknown;
      reasoning?: unknown;
      tool_calls?: unknown;
    } | null;
  }[];
}

export class StreamTimer {
  private readonly decoder = new SseDecoder();
  private readonly startMs: number;
  private status?: number;
  private headersMs?: number;
  private roleMs?: number;
  private readonly tokenTimes: number[] = [];
  /** Arrival of each content event (not reasoning). */
  private readonly contentTimes: number[] = [];
  /** Index in contentTimes of the last content event whose text closes a `<think>` block. */
  private lastThinkClose = -1;
  /** Pieces queued by `queue`, not yet decoded, with their arrival times (parallel arrays, no per-piece object). */
  private readonly queuedChunks: (Uint8Array | string)[] = [];
  private readonly queuedAtMs: number[] = [];
  private reasoningEvents = 0;
  private firstKind?: 'reasoning' | 'content' | 'tool_calls';
  private keepAlives = 0;
  private done = false;
  private streamError?: string;
  private errorBody = '';
  private usagePrompt?: number;
  private usageCompletion?: number;
  private finishReason?: string;
  private fingerprint?: string;
  private model?: string;

  /** `startMs`: when the request was written, on the same clock as every later call. */
  private readonly keepText: boolean;
  private reasoningText = '';
  private contentText = '';

  constructor(startMs: number, options: StreamTimerOptions = {}) {
    this.startMs = startMs;
    this.keepText = options.keepText === true;
  }

  headers(status: number, atMs: number): void {
    this.status = status;
    this.headersMs = atMs - this.startMs;
  }

  /** Decodes a piece now. Pieces queued before it are decoded first, so the order is kept. */
  data(chunk: Uint8Array | string, atMs: number): void {
    if (this.queuedChunks.length > 0) this.flush();
    this.decode(chunk, atMs);
  }

  /**
   * Records a piece and its arrival time without decoding it; `flush` (or `end`/`fail`) decodes it
   * later with that same time. The chunk is kept by reference, so it must not be reused by the
   * caller. Returns true when the queue was empty, i.e. when the caller must arrange a flush.
   */
  queue(chunk: Uint8Array | string, atMs: number): boolean {
    this.queuedChunks.push(chunk);
    this.queuedAtMs.push(atMs);
    return this.queuedChunks.length === 1;
  }

  /** Pieces queued and not yet decoded. */
  get queued(): number {
    return this.queuedChunks.length;
  }

  /** Decodes every queued piece, each at its own arrival time. */
  flush(): void {
    const chunks = this.queuedChunks;
    const times = this.queuedAtMs;
    for (let i = 0; i < chunks.length; i++) this.decode(chunks[i] as Uint8Array | string, times[i] as number);
    chunks.length = 0;
    times.length = 0;
  }

  private decode(chunk: Uint8Array | string, atMs: number): void {
    if (this.status !== undefined && (this.status < 200 || this.status >= 300)) {
      if (this.errorBody.length < 4096)
        this.errorBody += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return;
    }
    for (const event of this.decoder.push(chunk)) this.event(event, atMs);
  }

  /** The body ended normally. */
  end(atMs: number): StreamTiming {
    this.flush();
    for (const event of this.decoder.end()) this.event(event, atMs);
    if (this.status !== undefined && (this.status < 200 || this.status >= 300))
      return this.result(atMs, 'http_error', errorText(this.errorBody) ?? `HTTP ${this.status}`);
    if (this.streamError !== undefined) return this.result(atMs, 'stream_error', this.streamError);
    if (!this.done) return this.result(atMs, 'stream_cut', 'the stream ended without [DONE]');
    return this.result(atMs);
  }

  /** The transport failed (refused, reset, timeout). After a 2xx header it is a cut stream. */
  fail(message: string, atMs: number): StreamTiming {
    this.flush();
    if (this.status !== undefined && this.status >= 200 && this.status < 300)
      return this.result(atMs, 'stream_cut', `the stream was cut: ${message}`);
    return this.result(atMs, 'transport', message);
  }

  private event(event: ReturnType<SseDecoder['push']>[number], atMs: number): void {
    const t = atMs - this.startMs;
    if (event.type === 'comment') {
      this.keepAlives++;
      return;
    }
    if (event.type === 'error-field') {
      this.streamError ??= errorText(event.data) ?? event.data;
      return;
    }
    if (event.data === '[DONE]') {
      this.done = true;
      return;
    }
    let json: ChunkJson;
    try {
      json = JSON.parse(event.data) as ChunkJson;
    } catch {
      return; // Not JSON: nothing a token clock can use.
    }
    if (json === null || typeof json !== 'object') return;
    if (json.error !== undefined && json.error !== null) {
      this.streamError ??= errorText(event.data) ?? 'error event';
      return;
    }
    if (typeof json.system_fingerprint === 'string') this.fingerprint ??= json.system_fingerprint;
    if (typeof json.model === 'string') this.model ??= json.model;
    const usage = json.usage;
    if (usage && typeof usage === 'object') {
      if (typeof usage.completion_tokens === 'number') this.usageCompletion = usage.completion_tokens;
      if (typeof usage.prompt_tokens === 'number') this.usagePrompt = usage.prompt_tokens;
    }
    const choice = Array.isArray(json.choices) ? json.choices[0] : undefined;
    if (!choice) return;
    if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason;
    const delta = choice.delta ?? undefined;
    if (delta && delta.role !== undefined && delta.role !== null) this.roleMs ??= t;
    const reasoning = nonEmpty(delta?.reasoning_content) || nonEmpty(delta?.reasoning);
    const content =
      typeof delta?.content === 'string' ? delta.content : typeof choice.text === 'string' ? choice.text : '';
    const tools = Array.isArray(delta?.tool_calls) && delta.tool_calls.length > 0;
    if (!reasoning && content === '' && !tools) return;
    this.tokenTimes.push(t);
    this.firstKind ??= content !== '' ? 'content' : reasoning ? 'reasoning' : 'tool_calls';
    if (this.keepText) {
      this.reasoningText +=
        (typeof delta?.reasoning_content === 'string' ? delta.reasoning_content : '') ||
        (typeof delta?.reasoning === 'string' ? delta.reasoning : '');
      this.contentText += content;
    }
    if (reasoning && content === '') this.reasoningEvents++;
    if (content !== '' || tools) {
      if (content.includes('</think>')) this.lastThinkClose = this.contentTimes.length;
      this.contentTimes.push(t);
    }
  }

  private result(atMs: number, failure?: StreamFailure, errorMessage?: string): StreamTiming {
    const times = this.tokenTimes;
    const fromUsage = this.usageCompletion !== undefined;
    const completionTokens = fromUsage ? this.usageCompletion : times.length > 0 ? times.length : undefined;
    const first = times[0];
    const last = times[times.length - 1];
    const { decodeTokensPerSecond: decode, burstTokensPerSecond: burst } = streamRates(
      times,
      completionTokens,
    );
    return {
      ok: failure === undefined,
      failure,
      errorMessage,
      status: this.status,
      timeToHeadersMs: this.headersMs,
      timeToRoleMs: this.roleMs,
      ttftMs: first,
      timeToFirstAnswerMs: this.firstAnswer(),
      firstTokenKind: this.firstKind,
      tokenTimesMs: times,
      lastTokenMs: last,
      totalMs: atMs - this.startMs,
      itlMs: summarize(gaps(times)),
      completionTokens,
      promptTokens: this.usagePrompt,
      tokenSource: completionTokens === undefined ? undefined : fromUsage ? 'usage' : 'chunks',
      decodeTokensPerSecond: decode,
      burstTokensPerSecond: burst,
      reasoningEvents: this.reasoningEvents,
      contentEvents: this.contentTimes.length,
      keepAliveComments: this.keepAlives,
      sawDone: this.done,
      finishReason: this.finishReason,
      systemFingerprint: this.fingerprint,
      model: this.model,
      text: this.keepText ? this.reasoningText + this.contentText : undefined,
    };
  }

  /**
   * Content after the last `</think>` is the answer; without a closing tag all content is. (R1-Distill
   * templates pre-fill `<think>`, so the opening tag may never be streamed.)
   */
  private firstAnswer(): number | undefined {
    return this.contentTimes[this.lastThinkClose + 1];
  }
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v.length > 0;
}

/** The human part of the error bodies servers send (see wire-formats.md §10.3). */
export function errorText(body: string): string | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  try {
    const j = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (
      j.error &&
      typeof j.error === 'object' &&
      typeof (j.error as { message?: unknown }).message === 'string'
    )
      return (j.error as { message: string }).message;
    if (typeof j.message === 'string') return j.message;
    if (typeof j.detail === 'string') return j.detail;
  } catch {
    // plain text body
  }
  return text.slice(0, 300);
}
