// Stream rescue: the request that asks another endpoint to continue a partial answer. vLLM
// continues a final assistant message with `continue_final_message: true` and
// `add_generation_prompt: false`; llama.cpp continues an assistant prefill as is; for the
// completions API the partial text is simply appended to the prompt. Other dialects cannot.
import type { Endpoint } from '../fleet/index.ts';
import type { Json } from './validate.ts';

export interface PartialAnswer {
  readonly content: string;
  readonly reasoning: string;
  /** Token chunks already sent to the client. */
  readonly tokens: number;
}

/**
 * The assistant prefill: the answer so far. Reasoning models get their reasoning back inside
 * `<think>` (the R1 chat templates' own form), closed only if content had begun.
 */
export function prefillText(partial: PartialAnswer): string {
  if (partial.reasoning === '') return partial.content;
  const head = `<think>\n${partial.reasoning}`;
  return partial.content === '' ? head : `${head}\n</think>\n\n${partial.content}`;
}

/** Whether this request's partial answer can be continued at all (one choice, no tool calls). */
export function rescuable(body: Json, partial: PartialAnswer, operation: 'chat' | 'completion'): boolean {
  if (partial.content === '' && partial.reasoning === '') return false;
  if (body.n !== undefined && body.n !== 1) return false;
  if (operation === 'completion') return typeof body.prompt === 'string' && partial.reasoning === '';
  return !(Array.isArray(body.tools) && body.tools.length > 0);
}

function lowered(value: unknown, used: number): number | undefined {
  return typeof value === 'number' ? Math.max(1, value - used) : undefined;
}

/** The continuation request for `endpoint`, or undefined when its dialect cannot continue. */
export function continuationBody(
  body: Json,
  partial: PartialAnswer,
  endpoint: Endpoint,
  operation: 'chat' | 'completion',
): Json | undefined {
  if (!endpoint.canContinue) return undefined;
  // Another model's reasoning is not this model's to continue.
  if (partial.reasoning !== '' && !endpoint.reasoning) return undefined;
  const out: Json = { ...body };
  const maxTokens = lowered(body.max_tokens, partial.tokens);
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  const maxCompletion = lowered(body.max_completion_tokens, partial.tokens);
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
  return out;
}
