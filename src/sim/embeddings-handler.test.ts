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

  it('serves base64 as the float32 bytes of the same vector, for any dimension', () => {
    for (const dimension of [1, 2, 3, 8, 768, 1024, 4096])
      for (const text of ['doc 1', 'doc 2', 'query 7', 'x']) {
        const e = simEmbedding(text, dimension);
        const bytes = Buffer.from(e.base64, 'base64');
        expect(bytes.length, `${dimension}`).toBe(4 * dimension);
        const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, dimension);
        expect(Array.from(decoded)).toEqual(Array.from(e.values));
      }
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
