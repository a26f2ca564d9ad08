// Deterministic output text. An answer is a pure function of (seed, answer key): the same prompt
// gives the same reasoning and the same content on every endpoint that shares the seed, and token i
// of an answer never depends on max_tokens, so a request that continues a cut answer (a trailing
// assistant prefill) produces exactly the rest of the uninterrupted text.
import { simTokenize } from './tokenizer.ts';

const WORDS = (
  'the a model server request token stream latency queue batch prompt answer cache context window ' +
  'gateway endpoint fleet route fallback health probe metric budget target percentile sample value ' +
  'function returns input output error retry timeout buffer socket chunk decode prefill throughput ' +
  'we it this that each every one two first next last small large fast slow steady simple careful ' +
  'is are was runs keeps reads writes sends holds checks counts measures waits starts ends splits ' +
  'and or but so then when while because if with without from into over under after before of to in on ' +
  'code test file line list map set array string number result state event handler client upstream'
).split(' ');

/** Natural lengths (tokens until the model would stop on its own), drawn per answer. */
const CONTENT_TOKENS_MIN = 24;
const CONTENT_TOKENS_SPAN = 233;
const REASONING_TOKENS_MIN = 32;
const REASONING_TOKENS_SPAN = 225;

export interface SimAnswer {
  /** Tokens of the reasoning part (empty for non-reasoning models), at natural length. */
  readonly reasoning: readonly string[];
  /** Number of content tokens before the model would emit EOS. */
  readonly naturalContentTokens: number;
  /** Content token i (any i ≥ 0: past the natural end the text just goes on, for ignore_eos). */
  contentToken(i: number): string;
}

/** A small, fast PRNG (mulberry32); enough for text and jitter, and reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Generates token strings one after another: sentences of words, commas, full stops, paragraphs. */
function wordStream(seed: number, opening: readonly string[]): () => string {
  const rand = mulberry32(seed);
  const pending = [...opening];
  let sentenceLeft = opening.length > 0 ? 6 + Math.floor(rand() * 13) : 0;
  let startOfSentence = opening.length === 0;
  // The first word of the answer and a word after a paragraph break carry no leading space.
  let noSpace = opening.length === 0;
  return () => {
    const queued = pending.shift();
    if (queued !== undefined) {
      if (queued === '\n\n') noSpace = true;
      return queued;
    }
    if (sentenceLeft === 0) {
      sentenceLeft = 6 + Math.floor(rand() * 13);
      if (!startOfSentence) {
        startOfSentence = true;
        if (rand() < 0.2) pending.push('\n\n');
        return '.';
      }
    }
    sentenceLeft--;
    let word = WORDS[Math.floor(rand() * WORDS.length)] as string;
    if (startOfSentence) {
      startOfSentence = false;
      word = word.charAt(0).toUpperCase() + word.slice(1);
    } else if (sentenceLeft > 2 && rand() < 0.08) {
      pending.push(` ${word}`);
      return ',';
    }
    const token = noSpace ? word : ` ${word}`;
    noSpace = false;
    return token;
  };
}

export function simAnswer(seed: number, answerKey: number, reasoning: boolean): SimAnswer {
  const h = mix(seed, answerKey);
  const naturalContentTokens = CONTENT_TOKENS_MIN + (h % CONTENT_TOKENS_SPAN);
  const content: string[] = [];
  const nextContent = wordStream(mix(h, 1), []);
  let reasoningTokens: string[] = [];
  if (reasoning) {
    const n = REASONING_TOKENS_MIN + (mix(h, 2) % REASONING_TOKENS_SPAN);
    const next = wordStream(mix(h, 3), ['Okay', ',']);
    reasoningTokens = Array.from({ length: n }, next);
  }
  return {
    reasoning: reasoningTokens,
    naturalContentTokens,
    contentToken(i: number): string {
      while (content.length <= i) content.push(nextContent());
      return content[i] as string;
    },
  };
}

export interface OutputPlanOptions {
  readonly maxTokens: number;
  /** Keep going past the natural end (vLLM `ignore_eos`). */
  readonly ignoreEos: boolean;
  /** Do not stop before this many tokens (vLLM `min_tokens`). */
  readonly minTokens: number;
  /** Text of a trailing assistant message to continue (`continue_final_message`, llama.cpp prefill). */
  readonly prefill?: string;
}

export interface OutputPlan {
  readonly reasoning: readonly string[];
  readonly content: readonly string[];
  readonly finishReason: 'stop' | 'length';
  /** The stop string that ended the content (vLLM reports it as stop_reason). */
  readonly stopReason?: string;
}

/**
 * Cuts the content at the first occurrence of any stop string (the string itself is not
 * emitted), as the servers do with `stop`; a token the cut falls inside is emitted up to the cut.
 */
export function applyStop(plan: OutputPlan, stops: readonly string[]): OutputPlan {
  const text = plan.content.join('');
  let at = -1;
  let matched: string | undefined;
  for (const stop of stops) {
    if (stop === '') continue;
    const i = text.indexOf(stop);
    if (i >= 0 && (at < 0 || i < at)) {
      at = i;
      matched = stop;
    }
  }
  if (matched === undefined) return plan;
  const content: string[] = [];
  let length = 0;
  for (const token of plan.content) {
    if (length + token.length <= at) {
      content.push(token);
      length += token.length;
      continue;
    }
    if (at > length) content.push(token.slice(0, at - length));
    break;
  }
  return { reasoning: plan.reasoning, content, finishReason: 'stop', stopReason: matched };
}

/**
 * What one request emits: the rest of the answer after the prefill, cut at max_tokens. Each
 * emitted token is one stream chunk and one completion token (</think> and EOS are not counted).
 * A prefill is matched against the answer text; if it ends inside a token, the first emitted token
 * is that token's tail. A prefill that is not a prefix of the answer continues at the token index
 * equal to its own token count. A prefill starting with `<think>` continues the reasoning.
 */
export function planOutput(answer: SimAnswer, options: OutputPlanOptions): OutputPlan {
  let reasoningFrom = answer.reasoning.length;
  let reasoningTail: string | undefined;
  let contentFrom = 0;
  let contentTail: string | undefined;
  const prefill = options.prefill ?? '';
  if (prefill === '') {
    reasoningFrom = 0;
  } else if (answer.reasoning.length > 0 && prefill.startsWith('<think>')) {
    const body = prefill.slice('<think>'.length).replace(/^\n/, '');
    const end = body.indexOf('</think>');
    if (end < 0) {
      [reasoningFrom, reasoningTail] = matchPrefix((i) => answer.reasoning[i], body);
    } else {
      [contentFrom, contentTail] = matchPrefix(
        (i) => answer.contentToken(i),
        body.slice(end + 8).trimStart(),
      );
    }
  } else {
    [contentFrom, contentTail] = matchPrefix((i) => answer.contentToken(i), prefill);
  }
  const budget = Math.max(0, options.maxTokens);
  const reasoning: string[] = [];
  if (reasoningTail !== undefined) reasoning.push(reasoningTail);
  for (let i = reasoningFrom; i < answer.reasoning.length; i++) reasoning.push(answer.reasoning[i] as string);
  if (reasoning.length >= budget)
    return { reasoning: reasoning.slice(0, budget), content: [], finishReason: 'length' };
  const content: string[] = [];
  if (contentTail !== undefined) content.push(contentTail);
  const room = budget - reasoning.length;
  const natural = Math.max(0, answer.naturalContentTokens - contentFrom) + content.length;
  const wanted = options.ignoreEos ? Infinity : Math.max(natural, options.minTokens - reasoning.length);
  const count = Math.min(room, wanted);
  for (let i = contentFrom; content.length < count; i++) content.push(answer.contentToken(i));
  return { reasoning, content, finishReason: count < wanted ? 'length' : 'stop' };
}

/** Index of the first token after `text`, and the tail of a token `text` ends inside of. */
function matchPrefix(token: (i: number) => string | undefined, text: string): [number, string | undefined] {
  let acc = '';
  let i = 0;
  while (acc.length < text.length) {
    const t = token(i);
    if (t === undefined) return [i, undefined];
    const next = acc + t;
    if (text.startsWith(next)) {
      acc = next;
      i++;
    } else if (next.startsWith(text)) {
      return [i + 1, next.slice(text.length)];
    } else {
      return [countTokensOf(text), undefined];
    }
  }
  return [i, undefined];
}

function countTokensOf(text: string): number {
  return simTokenize(text).length;
}

/** The text an uninterrupted upstream produces for this answer (reasoning, content) at max_tokens. */
export function expectedText(
  answer: SimAnswer,
  options: Omit<OutputPlanOptions, 'prefill'>,
): { reasoning: string; content: string; finishReason: 'stop' | 'length' } {
  const plan = planOutput(answer, options);
  return {
    reasoning: plan.reasoning.join(''),
    content: plan.content.join(''),
    finishReason: plan.finishReason,
  };
}
