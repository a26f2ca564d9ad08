// Stream rescue: the request that asks another endpoint (or the same one) to continue a partial
// answer, and how the continuation's text is put back into the right fields.
//
// vLLM continues a final assistant message with `continue_final_message: true` and
// `add_generation_prompt: false`; llama.cpp continues a trailing assistant message (a prefill), but
// only with thinking off — with a thinking template it answers 400 "Assistant response prefill is
// incompatible with enable_thinking." — and with thinking off it does not split reasoning at all
// (reasoning_format none: everything comes back as `content`). For the completions API the partial
// text is simply appended to the prompt. mlx_lm cannot continue.
//
// The reasoning parsers never see a `<think>` that sits in the prompt: vLLM's qwen3 parser before
// PR #34779 (≈ v0.17) streams the whole continuation as `content`, `</think>` included; deepseek_r1
// streams everything as reasoning until it generates a `</think>`, and before that same release
// also a continuation of content (whose `</think>` is in the prompt). The gateway knows where the
// relayed part stood, so it re-splits the continuation itself (ContinuationSplitter).
import type { Endpoint } from '../fleet/index.ts';
import type { Json } from './validate.ts';

export interface PartialAnswer {
  readonly content: string;
  readonly reasoning: string;
  /** Completion tokens already sent to the client (the servers' counts where they gave them). */
  readonly tokens: number;
}

const END_TAG = '</think>';

/** Where the relayed part of an answer stood when it was cut. */
export function stoodIn(partial: PartialAnswer): 'reasoning' | 'content' {
  return partial.reasoning !== '' && partial.content === '' ? 'reasoning' : 'content';
}

/**
 * The assistant prefill: the answer so far. Reasoning models get their reasoning back inside
 * `<think>` (the R1 chat templates' own form), closed only if content had begun.
 */
export function prefillText(partial: PartialAnswer): string {
  if (partial.reasoning === '') return partial.content;
  const head = `<think>\n${partial.reasoning}`;
  return partial.content === '' ? head : `${head}\n${END_TAG}\n\n${partial.content}`;
}

/** Whether this request's partial answer can be continued at all (one choice, no tool calls). */
export function rescuable(body: Json, partial: PartialAnswer, operation: 'chat' | 'completion'): boolean {
  if (partial.content === '' && partial.reasoning === '') return false;
  if (body.n !== undefined && body.n !== 1) return false;
  if (operation === 'completion') return typeof body.prompt === 'string' && partial.reasoning === '';
  return !(Array.isArray(body.tools) && body.tools.length > 0);
}

/** What is left of the client's limit: a rescued answer never exceeds it; 0 = nothing left. */
function remaining(value: unknown, used: number): number | undefined {
  return typeof value === 'number' ? value - used : undefined;
}

/** Dotted version comparison ('0.11.0' < '0.17'); a leading 'v' is ignored. */
function versionAtLeast(version: string, minimum: string): boolean {
  const parse = (v: string): number[] =>
    v
      .replace(/^v/, '')
      .split(/[.-]/)
      .map((x) => Number.parseInt(x, 10) || 0);
  const a = parse(version);
  const b = parse(minimum);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/**
 * How `endpoint` hands back a continuation that starts inside the reasoning: 'split' when its
 * parser separates reasoning from content by itself, 'inline' when everything arrives as content
 * with the literal `</think>` in it. llama.cpp continues with thinking off (inline); vLLM's qwen3
 * parser is inline before PR #34779 (main 2026-02-21; v0.17.0 taken as its first release), every other parser splits.
 */
export function reasoningSplit(endpoint: Endpoint): 'split' | 'inline' {
  if (endpoint.dialect === 'llamacpp') return 'inline';
  if (endpoint.dialect === 'vllm' && endpoint.reasoningParser === 'qwen3') {
    return endpoint.serverVersion !== undefined && versionAtLeast(endpoint.serverVersion, '0.17.0')
      ? 'split'
      : 'inline';
  }
  return 'split';
}

/** The continuation request for `endpoint`, or undefined when it cannot continue this answer. */
export function continuationBody(
  body: Json,
  partial: PartialAnswer,
  endpoint: Endpoint,
  operation: 'chat' | 'completion',
): Json | undefined {
  if (!endpoint.canContinue) return undefined;
  // Another model's reasoning is not this model's to continue.
  if (partial.reasoning !== '' && (!endpoint.reasoning || !endpoint.continueReasoning)) return undefined;
  const out: Json = { ...body };
  const maxTokens = remaining(body.max_tokens, partial.tokens);
  const maxCompletion = remaining(body.max_completion_tokens, partial.tokens);
  if ((maxTokens ?? 1) <= 0 || (maxCompletion ?? 1) <= 0) return undefined;
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  if (maxCompletion !== undefined) out.max_completion_tokens = maxCompletion;
  if (operation === 'completion') {
    out.prompt = `${String(body.prompt)}${partial.content}`;
    return out;
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  out.messages = [...messages, { role: 'assistant', content: prefillText(partial) }];
  if (endpoint.dialect === 'vllm') {
    out.continue_final_message = true;
    out.add_generation_prompt = false;
  }
  if (endpoint.dialect === 'llamacpp' && endpoint.reasoning) {
    // A thinking template refuses a prefill; with thinking off it continues (unsplit).
    out.chat_template_kwargs = { ...(body.chat_template_kwargs as Json | undefined), enable_thinking: false };
  }
  return out;
}

/**
 * Puts a continuation's text where it belongs. Relayed part in the content: everything that comes
 * is content (whatever field the server used). In the reasoning: a 'split' server's fields are
 * trusted (its first content ends the reasoning); an 'inline' server's text is reasoning up to the
 * literal `</think>` (a single token in the R1 and Qwen3 vocabularies) and content after it.
 */
export class ContinuationSplitter {
  private inReasoning: boolean;
  private readonly mode: 'split' | 'inline';

  constructor(stood: 'reasoning' | 'content', mode: 'split' | 'inline') {
    this.inReasoning = stood === 'reasoning';
    this.mode = mode;
  }

  /** Text of one delta (reasoning, then content, as the server sent it) → the right fields. */
  split(reasoning: string, content: string): { reasoning: string; content: string } {
    if (!this.inReasoning) return { reasoning: '', content: reasoning + content };
    if (this.mode === 'split') {
      if (content !== '') this.inReasoning = false;
      return { reasoning, content };
    }
    const text = reasoning + content;
    const at = text.indexOf(END_TAG);
    if (at < 0) return { reasoning: text, content: '' };
    this.inReasoning = false;
    return { reasoning: text.slice(0, at), content: text.slice(at + END_TAG.length) };
  }

  /** Whether `split` would change a delta with these fields (so its chunk must be rewritten). */
  changes(reasoning: string, content: string): boolean {
    if (!this.inReasoning) return reasoning !== '';
    if (this.mode === 'split') return false;
    return content !== '' || reasoning.includes(END_TAG);
  }
}
