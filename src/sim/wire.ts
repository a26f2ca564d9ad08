// What every dialect's wire format provides to the request handler: the bytes of each stream event
// and of each response body. The handler decides what happens when; a dialect decides how it looks.
export type FinishReason = 'stop' | 'length';
export type TokenKind = 'reasoning' | 'content';

export interface StreamIds {
  readonly id: string;
  /** Unix seconds, the same on every chunk. */
  readonly created: number;
  /** The model string the response carries (served name, or the requested string for mlx). */
  readonly model: string;
  readonly fingerprint: string;
  /** The stop string that ended this response, if one did (vLLM's stop_reason). */
  readonly stopReason?: string;
}

export interface SimUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedPromptTokens: number;
}

/** llama.cpp `timings`, from the simulated prefill and decode durations. */
export interface SimTimings {
  readonly promptMs: number;
  readonly predictedMs: number;
}

export interface ChatWire {
  /** True when the server sends 200 + headers as soon as the request is accepted (before prefill). */
  readonly headersBeforeFirstToken: boolean;
  readonly streamContentType: string;
  /** Written at the first token time before that token's event (vLLM role chunk), or undefined. */
  roleEvent(ids: StreamIds): string | undefined;
  /**
   * One token's event. `finish` is set when this token also ends the stream and the dialect puts
   * finish_reason on the last token chunk (see finishOnLastToken).
   */
  tokenEvent(
    ids: StreamIds,
    kind: TokenKind,
    text: string,
    first: boolean,
    finish: FinishReason | null,
  ): string;
  /** True when a 'length' finish rides on the last token chunk (vLLM) rather than a chunk of its own. */
  readonly finishOnLastToken: boolean;
  /** Final chunk(s) after the last token, usage chunk if asked, and the terminator. */
  endEvents(
    ids: StreamIds,
    finish: FinishReason,
    finishAlreadySent: boolean,
    usage: SimUsage,
    includeUsage: boolean,
    timings: SimTimings,
    withDone: boolean,
    /** vLLM continuous_usage_stats: the running usage also goes on a separate finish chunk. */
    runningUsage?: boolean,
  ): string;
  /** How an error after the stream started looks; 'close' = the socket is just closed (mlx). */
  midStreamError(message: string): string | 'close';
  /** A comment written while the prompt is processed (mlx keep-alive), given progress. */
  prefillComment?(doneTokens: number, totalTokens: number): string;
  completionBody(
    ids: StreamIds,
    reasoning: string,
    content: string,
    finish: FinishReason,
    usage: SimUsage,
    timings: SimTimings,
  ): string;
  /** The `/v1/completions` (text) stream chunk and body. */
  textEvent(ids: StreamIds, text: string, finish: FinishReason | null): string;
  textBody(ids: StreamIds, text: string, finish: FinishReason, usage: SimUsage): string;
  textUsageEvent(ids: StreamIds, usage: SimUsage): string;
}

export function sseData(json: string): string {
  return `data: ${json}\n\n`;
}

export const DONE_EVENT = 'data: [DONE]\n\n';

/**
 * JSON the way Python's json.dumps writes it by default: `", "` and `": "` separators and non-ASCII
 * escaped as \uXXXX (ensure_ascii). mlx_lm and vLLM's mid-stream error event use it.
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiJson(value);
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    parts.push(`${asciiJson(k)}: ${pythonJson(v)}`);
  }
  return `{${parts.join(', ')}}`;
}

function asciiJson(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
