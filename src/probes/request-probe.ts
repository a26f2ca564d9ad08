// A small REAL request of the endpoint's kind: a 200 from /health alone has fooled other tools
// (a server can be alive and unable to answer). Chat endpoints get a one-line prompt with enough
// max_tokens for a reasoning model to get through its thinking to content; an embeddings endpoint
// gets one short input and must return a non-empty vector.
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import type { Endpoint } from '../fleet/index.ts';
import { upstreamAuthHeaders } from '../upstream/auth.ts';
import { answeredUp, createProbeDispatcher, probeError } from './health.ts';
import type { ProbeResult } from './types.ts';

/** Default completion budget: a reasoning model thinks first (R1 distills: ~100–800 tokens). */
export const REASONING_PROBE_MAX_TOKENS = 1024;
export const CHAT_PROBE_MAX_TOKENS = 16;

export interface RequestProbeOptions {
  readonly timeoutMs: number;
  readonly dispatcher?: Dispatcher;
  /** Override the completion budget (default: 1024 for reasoning models, 16 otherwise). */
  readonly maxTokens?: number;
  readonly clock?: () => number;
}

function apiUrl(endpoint: Endpoint, path: string): string {
  const base = new URL(endpoint.url ?? 'http://invalid');
  const prefix = base.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${base.origin}${prefix}${path}`;
}

interface ChatAnswer {
  choices?: {
    message?: { content?: string | null; reasoning_content?: string | null; reasoning?: string | null };
    finish_reason?: string;
  }[];
}
interface EmbeddingsAnswer {
  data?: { embedding?: unknown }[];
}

export function probeMaxTokens(endpoint: Pick<Endpoint, 'reasoning'>, override?: number): number {
  return override ?? (endpoint.reasoning ? REASONING_PROBE_MAX_TOKENS : CHAT_PROBE_MAX_TOKENS);
}

/** Judges a chat answer: ok only when the model reached content. Pure, for unit tests. */
export function judgeChatAnswer(
  body: string,
  maxTokens: number,
): { ok: boolean; cause?: string; detail: string } {
  let parsed: ChatAnswer;
  try {
    parsed = JSON.parse(body) as ChatAnswer;
  } catch {
    return { ok: false, cause: 'bad_body', detail: 'answer is not JSON' };
  }
  const choice = parsed.choices?.[0];
  const content = choice?.message?.content ?? '';
  if (content.trim() !== '') return { ok: true, detail: `answered (${content.trim().slice(0, 40)})` };
  const thought = choice?.message?.reasoning_content ?? choice?.message?.reasoning ?? '';
  if (thought && choice?.finish_reason === 'length')
    return {
      ok: false,
      cause: 'empty_answer',
      detail: `reasoning used all ${maxTokens} max_tokens before any content (raise the probe's budget)`,
    };
  return {
    ok: false,
    cause: 'empty_answer',
    detail: `no content (finish_reason ${choice?.finish_reason ?? 'none'})`,
  };
}

export async function probeRequest(endpoint: Endpoint, options: RequestProbeOptions): Promise<ProbeResult> {
  const clock = options.clock ?? Date.now;
  const atMs = clock();
  const started = performance.now();
  const base = { endpoint: endpoint.name, kind: 'request' as const, atMs };
  if (!endpoint.url)
    return { ...base, ok: false, latencyMs: 0, cause: 'planned', detail: 'no URL (planned endpoint)' };
  const embeddings = endpoint.kind === 'embeddings';
  const maxTokens = probeMaxTokens(endpoint, options.maxTokens);
  const body = embeddings
    ? { model: endpoint.servedModel, input: ['llm-fleet probe'] }
    : {
        model: endpoint.servedModel,
        messages: [{ role: 'user', content: 'Reply with the single word: ok' }],
        max_tokens: maxTokens,
        temperature: 0,
        stream: false,
      };
  const ownDispatcher = options.dispatcher ? undefined : createProbeDispatcher(options.timeoutMs);
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await request(apiUrl(endpoint, embeddings ? '/v1/embeddings' : '/v1/chat/completions'), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'llm-fleet-probe',
        ...upstreamAuthHeaders(endpoint),
      },
      body: JSON.stringify(body),
      dispatcher: options.dispatcher ?? ownDispatcher,
      signal,
    });
    const text = await response.body.text();
    const latencyMs = performance.now() - started;
    const status = response.statusCode;
    if (answeredUp(status)) {
      return {
        ...base,
        ok: true,
        latencyMs,
        status,
        detail: `answered ${status} (up): ${text.trim().slice(0, 80)}`.trim(),
      };
    }
    if (status !== 200) {
      const loading = status === 503 && /loading model/i.test(text);
      return {
        ...base,
        ok: false,
        latencyMs,
        status,
        cause: loading ? 'loading' : `http_${status}`,
        detail: `${status} ${text.trim().slice(0, 80)}`.trim(),
      };
    }
    if (embeddings) {
      let vector: unknown;
      try {
        vector = (JSON.parse(text) as EmbeddingsAnswer).data?.[0]?.embedding;
      } catch {
        vector = undefined;
      }
      const ok = Array.isArray(vector) && vector.length > 0;
      return {
        ...base,
        ok,
        latencyMs,
        status,
        ...(ok ? {} : { cause: 'empty_answer' }),
        detail: ok ? `embedding of dimension ${(vector as unknown[]).length}` : 'no embedding in the answer',
      };
    }
    const verdict = judgeChatAnswer(text, maxTokens);
    return {
      ...base,
      ok: verdict.ok,
      latencyMs,
      status,
      ...(verdict.cause ? { cause: verdict.cause } : {}),
      detail: verdict.detail,
    };
  } catch (error) {
    const latencyMs = performance.now() - started;
    const { cause, detail } = probeError(error, signal, options.timeoutMs);
    return { ...base, ok: false, latencyMs, cause, detail };
  } finally {
    if (ownDispatcher) void ownDispatcher.close().catch(() => undefined);
  }
}
