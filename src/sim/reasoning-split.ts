// How each server hands back the tokens of a continued answer (a trailing assistant message that
// is continued) on a reasoning model: which field each token lands in. The reasoning parsers only
// look at generated tokens, never at a `<think>` that sits in the prompt.
//
// - llama.cpp (tools/server, oaicompat_chat_params_parse): a trailing assistant message is a
//   prefill; with thinking on (a template that supports enable_thinking, unless the request sets
//   chat_template_kwargs.enable_thinking=false) it throws "Assistant response prefill is
//   incompatible with enable_thinking." (HTTP 400 invalid_request_error); with thinking off it sets
//   reasoning_format none, so everything comes back as `content`, the generated `</think>` included.
// - vLLM --reasoning-parser qwen3 before PR #34779 (on main 2026-02-21; first release taken as v0.17.0, see README): without a
//   generated `<think>` the streaming parser returns every delta as content (`</think>` included).
//   From it on, text before a `</think>` is reasoning, and a prompt that already ended the
//   reasoning (prompt_is_reasoning_end) routes everything to content.
// - vLLM --reasoning-parser deepseek_r1: reasoning until a `</think>` is generated, content after.
//   Before PR #34779 the plain streaming path did not check the prompt, so continuing an answer
//   whose `</think>` sits in the prompt streams all of it as reasoning.
import type { TokenKind } from './wire.ts';
import { atLeast } from './version.ts';

export type VllmReasoningParser = 'qwen3' | 'deepseek_r1';

/**
 * vLLM release taken to carry PR #34779 (qwen3 parser rewrite, prompt check on every path). Not
 * verified at a tag: the commit reached main on 2026-02-21; v0.16.0 was out by early March 2026
 * and may or may not have it; v0.17.x (March 2026) is the first release certain to.
 */
export const VLLM_PROMPT_AWARE_PARSERS = '0.17.0';

export const LLAMACPP_PREFILL_THINKING_ERROR =
  'Assistant response prefill is incompatible with enable_thinking.';

export interface SimToken {
  readonly kind: TokenKind;
  readonly text: string;
}

/** How the continued tokens are labelled: split by the parser, all content (raw), all reasoning. */
export type ContinuationLabelling = 'split' | 'raw-content' | 'all-reasoning';

/**
 * The labelling a server applies when continuing an answer whose prefill stood inside the
 * reasoning (`<think>` open) or after it (`</think>` in the prompt).
 */
export function continuationLabelling(
  dialect: 'vllm' | 'llamacpp' | 'mlx',
  version: string,
  parser: VllmReasoningParser,
  stood: 'reasoning' | 'content',
): ContinuationLabelling {
  if (dialect === 'llamacpp') return 'raw-content';
  if (dialect !== 'vllm') return 'split';
  const promptAware = atLeast(version, VLLM_PROMPT_AWARE_PARSERS);
  if (parser === 'qwen3') return promptAware ? 'split' : 'raw-content';
  if (stood === 'content' && !promptAware) return 'all-reasoning';
  return 'split';
}

/** The emitted token sequence for a plan, labelled as the server would. */
export function labelTokens(
  reasoning: readonly string[],
  content: readonly string[],
  labelling: ContinuationLabelling,
  stood: 'reasoning' | 'content',
): SimToken[] {
  const split: SimToken[] = [
    ...reasoning.map((text) => ({ kind: 'reasoning' as const, text })),
    ...content.map((text) => ({ kind: 'content' as const, text })),
  ];
  if (labelling === 'split') return split;
  if (labelling === 'all-reasoning') return split.map((t) => ({ kind: 'reasoning', text: t.text }));
  // Raw: the model's own text, its `</think>` (one generated token) between reasoning and answer.
  const raw: SimToken[] = reasoning.map((text) => ({ kind: 'content', text }));
  if (stood === 'reasoning' && content.length > 0) raw.push({ kind: 'content', text: '</think>' });
  for (const text of content) raw.push({ kind: 'content', text });
  return raw;
}
