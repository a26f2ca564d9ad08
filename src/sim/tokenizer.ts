// The simulator's tokenizer: simple, deterministic and used everywhere the simulator counts tokens
// (usage, /tokenize, context checks, prefill time), so a client can check the counts exactly.
// A token is one of: a chat special token (`<|im_start|>`), a run of letters or a run of up to three
// digits (each with at most one leading space), one punctuation character (with at most one leading
// space), or a run of whitespace. It is not Qwen's BPE; routing/tokens.ts estimates that one.

const TOKEN = /<\|[a-z_]+\|>| ?\p{L}+| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]|\s+/gu;

/** Vocabulary size the ids are folded into (Qwen3's 151,643 regular tokens). */
export const SIM_VOCAB_SIZE = 151_643;

export function simTokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

export function countSimTokens(text: string): number {
  let n = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.exec(text) !== null) n++;
  return n;
}

/** A stable id per token string (FNV-1a folded into the vocabulary), for /tokenize. */
export function simTokenId(token: string): number {
  return fnv1a(token) % SIM_VOCAB_SIZE;
}

export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A server tokenizer that counts `ratio` tokens per simulator token (SimEndpointOptions.
 * promptTokenRatio): the pieces stretched or thinned to round(n × ratio), in order.
 */
export function scaleTokens(tokens: readonly string[], ratio: number): string[] {
  if (ratio === 1 || tokens.length === 0) return [...tokens];
  const m = Math.max(1, Math.round(tokens.length * ratio));
  return Array.from(
    { length: m },
    (_, j) => tokens[Math.min(tokens.length - 1, Math.floor((j * tokens.length) / m))] as string,
  );
}

export function scaleTokenCount(n: number, ratio: number): number {
  return ratio === 1 || n === 0 ? n : Math.max(1, Math.round(n * ratio));
}
