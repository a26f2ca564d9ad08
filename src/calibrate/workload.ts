// Synthetic work for calibrate and bench. Every prompt opens with a unique prefix so no prefix
// cache can answer from an earlier request (vLLM #54227: a replayed prompt set made TTFT 49× lower),
// and the output length is forced where the server allows it, so every request decodes the same
// number of tokens.
import type { Dialect } from '../fleet/index.ts';

// Short common words: one token each in the Qwen, Llama and DeepSeek tokenizers (with the leading space).
const FILLER = (
  'the quick brown fox jumps over a lazy dog while seven small birds sing in the old green tree near ' +
  'river bank and each day people walk along that road to work or school then come home for dinner'
).split(' ');

/**
 * A prompt of about `tokens` tokens whose first words are unique to `uniqueId`. `fillerWords`, when
 * given, is the exact number of filler words (calibrate sizes it with the server's tokenizer);
 * otherwise every filler word is assumed to be one token.
 */
export function syntheticPrompt(tokens: number, uniqueId: string, fillerWords?: number): string {
  const prefix = `Request ${uniqueId}. Continue the text:`;
  // The prefix costs roughly one token per 3 characters of the id plus 5 words.
  const prefixTokens = 5 + Math.ceil(uniqueId.length / 3);
  const count = Math.max(0, fillerWords ?? tokens - prefixTokens);
  const words: string[] = [];
  for (let i = 0; words.length < count; i++) words.push(FILLER[i % FILLER.length] as string);
  return `${prefix} ${words.join(' ')}`;
}

/** Filler words when each is assumed to be one token (what syntheticPrompt does unsized). */
export function assumedFillerWords(tokens: number, uniqueId: string): number {
  return Math.max(0, tokens - 5 - Math.ceil(uniqueId.length / 3));
}

export interface ChatWorkload {
  readonly model: string;
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** Filler words that make the prompt `promptTokens` long on this server (see syntheticPrompt). */
  readonly fillerWords?: number;
}

/** Which output-length controls the server honours (see wire-formats.md). */
export function forcedLengthFields(dialect: Dialect, maxTokens: number): Record<string, unknown> {
  switch (dialect) {
    case 'vllm':
      return { ignore_eos: true, min_tokens: maxTokens };
    case 'llamacpp':
      return { ignore_eos: true };
    default:
      // mlx_lm has no way to force a length; its answers end where the model stops.
      return {};
  }
}

export function chatBody(w: ChatWorkload, dialect: Dialect, uniqueId: string): Record<string, unknown> {
  return {
    model: w.model,
    messages: [{ role: 'user', content: syntheticPrompt(w.promptTokens, uniqueId, w.fillerWords) }],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: w.maxTokens,
    temperature: 0,
    ...forcedLengthFields(dialect, w.maxTokens),
  };
}

/** The seed's embeddings operation: one batch of `batchSize` distinct texts. */
export function embeddingsBody(model: string, batchSize: number, uniqueId: string): Record<string, unknown> {
  return {
    model,
    input: Array.from({ length: batchSize }, (_, i) => syntheticPrompt(48, `${uniqueId}-${i}`)),
  };
}

/** Short, collision-free ids for one run: run id + counter. */
export function idSource(runId: string): () => string {
  let n = 0;
  return () => `${runId}-${(n++).toString(36)}`;
}
