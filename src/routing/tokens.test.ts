import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import {
  decisiveThresholds,
  estimateChatTokens,
  estimateEmbeddingInputs,
  estimatePromptTokens,
  estimateTextTokens,
  needsExactCount,
} from './index.ts';

describe('token estimation', () => {
  it('costs words, digits, punctuation and whitespace', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('Hello world')).toBe(2);
    expect(estimateTextTokens('2026')).toBe(4); // Qwen splits numbers into single digits
    expect(estimateTextTokens('internationalization')).toBe(1 + Math.ceil((20 - 8) / 5));
    expect(estimateTextTokens('a, b')).toBe(3);
  });

  it('adds chat template overhead per message and counts text parts', () => {
    const one = estimateChatTokens([{ role: 'user', content: 'Hello world' }]);
    expect(one).toBe(3 + 5 + 2);
    const parts = estimateChatTokens([{ role: 'user', content: [{ type: 'text', text: 'Hello world' }] }]);
    expect(parts).toBe(one);
  });

  it('understands every prompt and input shape of the API', () => {
    expect(estimatePromptTokens([1, 2, 3])).toBe(3);
    expect(estimatePromptTokens(['Hello world', 'Hi'])).toBe(2);
    expect(estimateEmbeddingInputs(['Hello world', 'Hi'])).toEqual({ inputs: 2, tokens: 2, totalTokens: 3 });
    expect(estimateEmbeddingInputs([[1, 2], [3]])).toEqual({ inputs: 2, tokens: 2, totalTokens: 3 });
    expect(estimateEmbeddingInputs('Hi')).toEqual({ inputs: 1, tokens: 1, totalTokens: 1 });
  });

  it('asks for an exact count only near a decisive threshold', () => {
    const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
    const thresholds = decisiveThresholds(fleet);
    expect(thresholds).toEqual([32_768, 40_000, 40_960, 65_536]);
    expect(needsExactCount(1_000, thresholds)).toBe(false);
    expect(needsExactCount(38_000, thresholds)).toBe(true);
    expect(needsExactCount(100_000, thresholds)).toBe(false);
  });
});
