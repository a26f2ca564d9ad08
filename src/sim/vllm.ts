// vLLM's OpenAI-compatible server on the wire (wire-formats.md §3): compact JSON, a role-only first
// chunk, finish_reason on the last token chunk, a usage chunk with choices [] only when asked,
// [DONE] always, and the reasoning key of the version (reasoning_content → both → reasoning).
import { atLeast } from './version.ts';
import type { ChatWire, SimUsage, StreamIds, TokenKind } from './wire.ts';
import { DONE_EVENT, pythonJson, sseData } from './wire.ts';

export type ReasoningKeys = 'reasoning_content' | 'both' | 'reasoning';

/** PR #27752 (v0.11.1) added `reasoning`; PR #33402 (2026-01-30, ≈ v0.16) removed `reasoning_content`. */
export function vllmReasoningKeys(version: string): ReasoningKeys {
  if (atLeast(version, '0.16.0')) return 'reasoning';
  if (atLeast(version, '0.11.1')) return 'both';
  return 'reasoning_content';
}

/** v0.10.1 .. ≈ v0.13 append " " + the exception's __cause__ (None) to chat ValueError messages. */
export function vllmChatMessageSuffix(version: string): string {
  return atLeast(version, '0.10.1') && !atLeast(version, '0.14.0') ? ' None' : '';
}

export function vllmErrorBody(version: string, message: string, type: string, code: number): string {
  if (!atLeast(version, '0.10.1')) {
    return JSON.stringify({ object: 'error', message, type, param: null, code });
  }
  return JSON.stringify({ error: { message, type, param: null, code } });
}

function stopReason(ids: StreamIds): string {
  return ids.stopReason === undefined ? 'null' : JSON.stringify(ids.stopReason);
}

export function vllmWire(version: string): ChatWire {
  const keys = vllmReasoningKeys(version);
  // The chunk prefix is the same for every chunk of a response: built once per response and object.
  const heads = new WeakMap<StreamIds, Map<string, string>>();
  const head = (ids: StreamIds, object = 'chat.completion.chunk'): string => {
    let byObject = heads.get(ids);
    if (!byObject) heads.set(ids, (byObject = new Map()));
    let h = byObject.get(object);
    if (h === undefined) {
      h = `{"id":${JSON.stringify(ids.id)},"object":"${object}","created":${ids.created},"model":${JSON.stringify(ids.model)}`;
      byObject.set(object, h);
    }
    return h;
  };
  const delta = (kind: TokenKind, text: string): string => {
    const t = JSON.stringify(text);
    if (kind === 'content')
      return keys === 'both' ? `{"content":${t},"reasoning_content":null}` : `{"content":${t}}`;
    if (keys === 'both') return `{"reasoning":${t},"reasoning_content":${t}}`;
    return `{"${keys}":${t}}`;
  };
  const usageJson = (u: SimUsage): string =>
    `{"prompt_tokens":${u.promptTokens},"total_tokens":${u.promptTokens + u.completionTokens},"completion_tokens":${u.completionTokens}}`;
  return {
    headersBeforeFirstToken: true,
    streamContentType: 'text/event-stream; charset=utf-8',
    finishOnLastToken: true,
    roleEvent: (ids) =>
      sseData(
        `${head(ids)},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"prompt_token_ids":null}`,
      ),
    tokenEvent: (ids, kind, text, _first, finish) =>
      sseData(
        finish === null
          ? `${head(ids)},"choices":[{"index":0,"delta":${delta(kind, text)},"logprobs":null,"finish_reason":null,"token_ids":null}]}`
          : `${head(ids)},"choices":[{"index":0,"delta":${delta(kind, text)},"logprobs":null,"finish_reason":"${finish}","stop_reason":null,"token_ids":null}]}`,
      ),
    endEvents: (ids, finish, finishAlreadySent, usage, includeUsage, _timings, withDone, runningUsage) => {
      let out = '';
      if (!finishAlreadySent) {
        // EOS decodes to "": vLLM's last chunk is an empty content delta carrying finish_reason.
        // With continuous_usage_stats it carries the running usage too, like every chunk before it
        // (serving_chat.py sets chunk.usage on each chunk it yields, the finish chunk included).
        out += sseData(
          `${head(ids)},"choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"${finish}","stop_reason":${stopReason(ids)},"token_ids":null}]${runningUsage ? `,"usage":${usageJson(usage)}` : ''}}`,
        );
      }
      if (includeUsage) out += sseData(`${head(ids)},"choices":[],"usage":${usageJson(usage)}}`);
      if (withDone) out += DONE_EVENT;
      return out;
    },
    // Built with Python json.dumps, hence the spaces; [DONE] follows.
    midStreamError: (message) =>
      sseData(pythonJson({ error: { message, type: 'BadRequestError', param: null, code: 400 } })) +
      DONE_EVENT,
    completionBody: (ids, reasoning, content, finish, usage) => {
      const reasoningPart =
        reasoning === ''
          ? keys === 'reasoning'
            ? ',"reasoning":null'
            : keys === 'both'
              ? ',"reasoning":null,"reasoning_content":null'
              : ',"reasoning_content":null'
          : keys === 'reasoning'
            ? `,"reasoning":${JSON.stringify(reasoning)}`
            : keys === 'both'
              ? `,"reasoning":${JSON.stringify(reasoning)},"reasoning_content":${JSON.stringify(reasoning)}`
              : `,"reasoning_content":${JSON.stringify(reasoning)}`;
      return (
        `${head(ids, 'chat.completion')},"choices":[{"index":0,"message":{"role":"assistant","content":${content === '' ? 'null' : JSON.stringify(content)},` +
        `"refusal":null,"annotations":null,"audio":null,"function_call":null,"tool_calls":[]${reasoningPart}},` +
        `"logprobs":null,"finish_reason":"${finish}","stop_reason":${stopReason(ids)},"token_ids":null}],` +
        `"service_tier":null,"system_fingerprint":null,` +
        `"usage":{"prompt_tokens":${usage.promptTokens},"total_tokens":${usage.promptTokens + usage.completionTokens},"completion_tokens":${usage.completionTokens},"prompt_tokens_details":null},` +
        `"prompt_logprobs":null,"prompt_token_ids":null,"kv_transfer_params":null}`
      );
    },
    textEvent: (ids, text, finish) =>
      sseData(
        `${head(ids, 'text_completion')},"choices":[{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`},"stop_reason":${finish === null ? 'null' : stopReason(ids)}}]}`,
      ),
    textUsageEvent: (ids, usage) =>
      sseData(`${head(ids, 'text_completion')},"choices":[],"usage":${usageJson(usage)}}`),
    textBody: (ids, text, finish, usage) =>
      `${head(ids, 'text_completion')},"choices":[{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":"${finish}","stop_reason":${stopReason(ids)},"prompt_logprobs":null}],` +
      `"service_tier":null,"system_fingerprint":null,"usage":{"prompt_tokens":${usage.promptTokens},"total_tokens":${usage.promptTokens + usage.completionTokens},"completion_tokens":${usage.completionTokens},"prompt_tokens_details":null},"kv_transfer_params":null}`,
  };
}
