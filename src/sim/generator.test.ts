import { describe, expect, it } from 'vitest';
import { expectedText, planOutput, simAnswer } from './generator.ts';
import { countSimTokens, simTokenize } from './tokenizer.ts';

describe('deterministic answers', () => {
  it('the same (seed, key) gives the same text; another seed gives another', () => {
    const a = expectedText(simAnswer(1, 42, true), { maxTokens: 1000, ignoreEos: false, minTokens: 0 });
    const b = expectedText(simAnswer(1, 42, true), { maxTokens: 1000, ignoreEos: false, minTokens: 0 });
    const c = expectedText(simAnswer(2, 42, true), { maxTokens: 1000, ignoreEos: false, minTokens: 0 });
    expect(a).toEqual(b);
    expect(c.content).not.toBe(a.content);
    expect(a.reasoning.startsWith('Okay,')).toBe(true);
  });

  it('the generated text tokenizes back into exactly the generated tokens (usage = chunks = /tokenize)', () => {
    for (let key = 0; key < 50; key++) {
      const answer = simAnswer(9, key, true);
      const plan = planOutput(answer, { maxTokens: 400, ignoreEos: true, minTokens: 0 });
      expect(simTokenize(plan.content.join(''))).toEqual(plan.content);
      expect(countSimTokens(plan.reasoning.join(''))).toBe(plan.reasoning.length);
    }
  });

  it('max_tokens cuts with finish length, ignore_eos runs to it, min_tokens extends a short answer', () => {
    const answer = simAnswer(3, 7, false);
    const natural = answer.naturalContentTokens;
    expect(planOutput(answer, { maxTokens: 5, ignoreEos: false, minTokens: 0 })).toMatchObject({
      finishReason: 'length',
    });
    expect(planOutput(answer, { maxTokens: 5, ignoreEos: false, minTokens: 0 }).content).toHaveLength(5);
    const full = planOutput(answer, { maxTokens: 10_000, ignoreEos: false, minTokens: 0 });
    expect(full).toMatchObject({ finishReason: 'stop' });
    expect(full.content).toHaveLength(natural);
    expect(
      planOutput(answer, { maxTokens: natural + 30, ignoreEos: true, minTokens: 0 }).content,
    ).toHaveLength(natural + 30);
    const min = planOutput(answer, { maxTokens: 10_000, ignoreEos: false, minTokens: natural + 3 });
    expect(min.content).toHaveLength(natural + 3);
    expect(min.finishReason).toBe('stop');
  });
});

describe('continuation from a prefill', () => {
  const options = { maxTokens: 10_000, ignoreEos: false, minTokens: 0 };

  it('continuing from any cut (token boundary or mid-token) yields exactly the rest of the same answer', () => {
    const answer = simAnswer(5, 1234, false);
    const full = planOutput(answer, options).content.join('');
    for (let cut = 0; cut <= full.length; cut += 3) {
      const prefill = full.slice(0, cut);
      const rest = planOutput(answer, { ...options, prefill }).content.join('');
      expect(prefill + rest).toBe(full);
    }
  });

  it('the continuation reports finish stop at the same place and counts only new tokens', () => {
    const answer = simAnswer(5, 99, false);
    const tokens = planOutput(answer, options).content;
    const prefill = tokens.slice(0, 10).join('');
    const rest = planOutput(answer, { ...options, prefill });
    expect(rest.content).toEqual(tokens.slice(10));
    expect(rest.finishReason).toBe('stop');
  });

  it('a <think> prefill continues the reasoning, then the whole answer', () => {
    const answer = simAnswer(5, 77, true);
    const full = planOutput(answer, options);
    const cut = full.reasoning.slice(0, 4).join('');
    const rest = planOutput(answer, { ...options, prefill: `<think>\n${cut}` });
    expect(cut + rest.reasoning.join('')).toBe(full.reasoning.join(''));
    expect(rest.content).toEqual(full.content);
    const afterThink = planOutput(answer, {
      ...options,
      prefill: `<think>\n${full.reasoning.join('')}\n</think>\n\n${full.content.slice(0, 3).join('')}`,
    });
    expect(afterThink.reasoning).toEqual([]);
    expect(afterThink.content).toEqual(full.content.slice(3));
  });

  it('a prefill that is not part of the answer continues at its own token count', () => {
    const answer = simAnswer(5, 11, false);
    const tokens = planOutput(answer, options).content;
    const rest = planOutput(answer, { ...options, prefill: 'Something else entirely' });
    expect(rest.content).toEqual(tokens.slice(3));
  });
});
