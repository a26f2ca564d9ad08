import { describe, expect, it } from 'vitest';
import { headerSafe } from './http.ts';

describe('headerSafe', () => {
  it('spells the punctuation of routing reasons in ASCII instead of a bare "?"', () => {
    expect(headerSafe('fallback of the code rule instead of coder-fast — marked down')).toBe(
      'fallback of the code rule instead of coder-fast - marked down',
    );
    expect(headerSafe('coder-fast → coder, P95 ≤ 800ms, 1.5× share')).toBe(
      'coder-fast -> coder, P95 <= 800ms, 1.5x share',
    );
  });

  it('still replaces what a header cannot carry, and bounds the length', () => {
    expect(headerSafe('a\nb\u00e9c')).toBe('a?b?c');
    expect(headerSafe('x'.repeat(600))).toHaveLength(512);
  });
});
