import { describe, expect, it } from 'vitest';
import { refineTokenCount } from './refine.ts';

describe('refineTokenCount', () => {
  const thresholds = [32_768, 40_000, 40_960, 65_536];

  it('uses the estimate far from every threshold without calling the counter', async () => {
    let calls = 0;
    const r = await refineTokenCount(2_000, thresholds, async () => (calls++, 1));
    expect(r).toEqual({ tokens: 2_000, exact: false, source: 'estimate' });
    expect(calls).toBe(0);
  });

  it('asks for an exact count near a threshold and routes on it', async () => {
    expect(await refineTokenCount(39_000, thresholds, async () => 41_234)).toEqual({
      tokens: 41_234,
      exact: true,
      source: 'tokenize',
    });
  });

  it('falls back to the estimate when the exact count fails', async () => {
    const r = await refineTokenCount(39_000, thresholds, async () => {
      throw new Error('404');
    });
    expect(r).toEqual({ tokens: 39_000, exact: false, source: 'estimate (tokenize failed)' });
  });
});
