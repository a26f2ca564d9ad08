import { describe, expect, it } from 'vitest';
import { simEmbedding } from './embeddings-handler.ts';

describe('simEmbedding', () => {
  it('is deterministic, unit length, and its JSON holds the same values', () => {
    const a = simEmbedding('doc 1', 4096);
    const again = simEmbedding('doc 1', 4096);
    expect(again.json).toBe(a.json);
    const parsed = JSON.parse(a.json) as number[];
    expect(parsed).toHaveLength(4096);
    expect(Math.hypot(...a.values)).toBeCloseTo(1, 5);
    parsed.forEach((v, i) => expect(v).toBeCloseTo(a.values[i] as number, 6));
  });

  it('gives different texts nearly orthogonal vectors', () => {
    const a = simEmbedding('doc 1', 4096).values;
    const b = simEmbedding('doc 2', 4096).values;
    let dot = 0;
    for (let i = 0; i < 4096; i++) dot += (a[i] as number) * (b[i] as number);
    expect(Math.abs(dot)).toBeLessThan(0.1);
    expect(JSON.parse(simEmbedding('x', 8).json)).toHaveLength(8);
  });
});
