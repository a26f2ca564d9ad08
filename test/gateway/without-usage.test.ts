import { describe, expect, it } from 'vitest';
import { withoutUsage } from '../../src/gateway/generate.ts';

// The general search the fast path must agree with, whatever the chunk.
const general = (data: string): string => data.replace(/,\s*"usage"\s*:\s*\{[^{}]*\}(?=\s*\}$)/, '');

describe('withoutUsage (running usage taken off a vLLM chunk)', () => {
  it('drops the trailing usage object and nothing else', () => {
    expect(
      withoutUsage(
        '{"id":"x","choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}',
      ),
    ).toBe('{"id":"x","choices":[{"delta":{"content":"a"}}]}');
    expect(withoutUsage('{"id":"x","choices":[] ,\n "usage" : {"a":1} }')).toBe('{"id":"x","choices":[]  }');
  });

  it('agrees with the general search on odd chunks and on random ones', () => {
    const odd = [
      '{"id":"x","usage":{"a":1},"choices":[]}',
      '{"id":"x","choices":[{"delta":{"content":"\\"usage\\""}}],"usage":{"a":1}}',
      '{"usage":{"a":1}}',
      '{"id":"x","choices":[],"usage":{"a":{"b":1}}}',
      '{"id":"x","choices":[],"usage":{"usage":1}}',
      '{"id":"x","choices":[],"usage":null}',
      '{"id":"x","choices":[{"delta":{"content":",\\"usage\\":{}"}}],"usage":{"a":1}}',
      'no usage',
    ];
    for (const c of odd) expect(withoutUsage(c)).toBe(general(c));
    const parts = [',', ' ', '"usage"', ':', '{', '}', '"a"', '1', '\n', '"x"'];
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let n = 0; n < 20_000; n++) {
      let s = '{';
      for (let i = 0, len = 1 + rand(12); i < len; i++) s += parts[rand(parts.length)];
      if (rand(10) < 7) s += '}';
      expect(withoutUsage(s)).toBe(general(s));
    }
  });
});
