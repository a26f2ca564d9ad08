// llama.cpp llama-server on the wire (wire-formats.md §5): compact JSON with keys in the order
// choices,created,id,model,system_fingerprint,object; the role chunk (content null) in the same
// write as the first token; a separate finish chunk with delta {}; usage + timings chunk only with
// include_usage (timings ride on the finish chunk otherwise); a later error ends without [DONE].
import type { ChatWire, SimTimings, SimUsage, StreamIds, TokenKind } from './wire.ts';
import { DONE_EVENT, sseData } from './wire.ts';

export function llamacppFingerprint(version: string): string {
  return `${version}-3f545bec`;
}

export function timingsJson(t: SimTimings, usage: SimUsage): string {
  const promptN = Math.max(0, usage.promptTokens - usage.cachedPromptTokens);
  const predictedN = usage.completionTokens;
  const perToken = (ms: number, n: number): number => (n > 0 ? round3(ms / n) : 0);
  const perSecond = (ms: number, n: number): number => (ms > 0 ? round3((n * 1000) / ms) : 0);
  return JSON.stringify({
    cache_n: usage.cachedPromptTokens,
    prompt_n: promptN,
    prompt_ms: round3(t.promptMs),
    prompt_per_token_ms: perToken(t.promptMs, promptN),
    prompt_per_second: perSecond(t.promptMs, promptN),
    predicted_n: predictedN,
    predicted_ms: round3(t.predictedMs),
    predicted_per_token_ms: perToken(t.predictedMs, predictedN),
    predicted_per_second: perSecond(t.predictedMs, predictedN),
  });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function usageJson(u: SimUsage): string {
  return `{"completion_tokens":${u.completionTokens},"prompt_tokens":${u.promptTokens},"total_tokens":${u.promptTokens + u.completionTokens},"prompt_tokens_details":{"cached_tokens":${u.cachedPromptTokens}}}`;
}

export function llamacppErrorBody(
  code: number,
  message: string,
  type: string,
  extra: Record<string, number> = {},
): string {
  return JSON.stringify({ error: { code, message, type, ...extra } });
}

export function llamacppWire(): ChatWire {
  const tail = (ids: StreamIds, object = 'chat.completion.chunk'): string =>
    `"created":${ids.created},"id":${JSON.stringify(ids.id)},"model":${JSON.stringify(ids.model)},"system_fingerprint":${JSON.stringify(ids.fingerprint)},"object":"${object}"`;
  const key = (kind: TokenKind): string => (kind === 'content' ? 'content' : 'reasoning_content');
  return {
    // llama-server waits for the first result (to turn an early error into an HTTP status).
    headersBeforeFirstToken: false,
    streamContentType: 'text/event-stream',
    finishOnLastToken: false,
    roleEvent: () => undefined,
    tokenEvent: (ids, kind, text, first) => {
      const token = sseData(
        `{"choices":[{"finish_reason":null,"index":0,"delta":{"${key(kind)}":${JSON.stringify(text)}}}],${tail(ids)}}`,
      );
      if (!first) return token;
      return (
        sseData(
          `{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],${tail(ids)}}`,
        ) + token
      );
    },
    endEvents: (ids, finish, _sent, usage, includeUsage, timings, withDone) => {
      let out = sseData(
        `{"choices":[{"finish_reason":"${finish}","index":0,"delta":{}}],${tail(ids)}${includeUsage ? '' : `,"timings":${timingsJson(timings, usage)}`}}`,
      );
      if (includeUsage) {
        out += sseData(
          `{"choices":[],${tail(ids)},"usage":${usageJson(usage)},"timings":${timingsJson(timings, usage)}}`,
        );
      }
      if (withDone) out += DONE_EVENT;
      return out;
    },
    // From PR #16486: a later error is one data event and the stream ends without [DONE].
    midStreamError: (message) => sseData(llamacppErrorBody(500, message, 'server_error')),
    completionBody: (ids, reasoning, content, finish, usage, timings) => {
      const message =
        reasoning === ''
          ? `{"role":"assistant","content":${JSON.stringify(content)}}`
          : `{"role":"assistant","content":${JSON.stringify(content)},"reasoning_content":${JSON.stringify(reasoning)}}`;
      return (
        `{"choices":[{"finish_reason":"${finish}","index":0,"message":${message}}],"created":${ids.created},` +
        `"model":${JSON.stringify(ids.model)},"system_fingerprint":${JSON.stringify(ids.fingerprint)},"object":"chat.completion",` +
        `"usage":${usageJson(usage)},"id":${JSON.stringify(ids.id)},"timings":${timingsJson(timings, usage)}}`
      );
    },
    textEvent: (ids, text, finish) =>
      sseData(
        `{"choices":[{"text":${JSON.stringify(text)},"index":0,"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}],${tail(ids, 'text_completion')}}`,
      ),
    textUsageEvent: (ids, usage) =>
      sseData(`{"choices":[],${tail(ids, 'text_completion')},"usage":${usageJson(usage)}}`),
    textBody: (ids, text, finish, usage) =>
      `{"choices":[{"text":${JSON.stringify(text)},"index":0,"logprobs":null,"finish_reason":"${finish}"}],${tail(ids, 'text_completion')},"usage":${usageJson(usage)}}`,
  };
}
