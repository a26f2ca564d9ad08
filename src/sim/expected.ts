// "What one uninterrupted upstream would have produced" for a request, computed without a server:
// tests of stream rescue compare the text a client finally received with this.
import { planOutput, simAnswer } from './generator.ts';
import { chatAnswerKey, contentText } from './prompt.ts';
import type { SimChatMessage } from './prompt.ts';

export interface ExpectedCompletionRequest {
  /** The simulator's seed (a sim fleet shares one; default 0). */
  readonly seed?: number;
  /** The prompt messages (a trailing assistant prefill, if any, is ignored). */
  readonly messages: readonly { role: string; content?: unknown }[];
  /** Whether the endpoint is a reasoning model. */
  readonly reasoning?: boolean;
  /** Default: unlimited (the natural length). */
  readonly maxTokens?: number;
  readonly ignoreEos?: boolean;
}

export function expectedCompletion(request: ExpectedCompletionRequest): {
  reasoning: string;
  content: string;
  finishReason: 'stop' | 'length';
  completionTokens: number;
} {
  const messages: SimChatMessage[] = request.messages.map((m) => ({
    role: m.role,
    content: contentText(m.content),
  }));
  const key = messages.at(-1)?.role === 'assistant' ? messages.slice(0, -1) : messages;
  const answer = simAnswer(request.seed ?? 0, chatAnswerKey(key), request.reasoning ?? false);
  const plan = planOutput(answer, {
    maxTokens: request.maxTokens ?? Number.MAX_SAFE_INTEGER,
    ignoreEos: request.ignoreEos ?? false,
    minTokens: 0,
  });
  return {
    reasoning: plan.reasoning.join(''),
    content: plan.content.join(''),
    finishReason: plan.finishReason,
    completionTokens: plan.reasoning.length + plan.content.length,
  };
}

export function expectedCompletionTokens(request: ExpectedCompletionRequest): number {
  return expectedCompletion(request).completionTokens;
}
