import { describe, expect, it } from 'vitest';
import { fullBucket, settleBucket, takeFromBucket } from './rate-bucket.ts';

describe('per-key token buckets', () => {
  it('lets a full minute through at once, then one request per limit/60 s', () => {
    const limit = { requestsPerMinute: 3 };
    let state = fullBucket(limit, 0);
    const verdicts = [];
    for (let i = 0; i < 4; i++) {
      const t = takeFromBucket(state, limit, 0, 0);
      state = t.state;
      verdicts.push(t.verdict);
    }
    expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false]);
    expect(verdicts[2]?.requests).toEqual({ limit: 3, remaining: 0, resetMs: 60_000 });
    // One request regains in 20 s; asking at 19.999 s is still too early.
    expect(verdicts[3]?.retryAfterMs).toBe(20_000);
    expect(takeFromBucket(state, limit, 0, 19_999).verdict.allowed).toBe(false);
    const later = takeFromBucket(state, limit, 0, 20_000);
    expect(later.verdict).toMatchObject({ allowed: true, requests: { remaining: 0, resetMs: 60_000 } });
  });

  it('charges both buckets or neither', () => {
    const limit = { requestsPerMinute: 10, tokensPerMinute: 1000 };
    const first = takeFromBucket(fullBucket(limit, 0), limit, 900, 0);
    expect(first.verdict).toMatchObject({
      allowed: true,
      tokens: { remaining: 100 },
      requests: { remaining: 9 },
    });
    const second = takeFromBucket(first.state, limit, 200, 0);
    // 100 tokens short at 1000/min: 6 s.
    expect(second.verdict).toMatchObject({ allowed: false, retryAfterMs: 6_000, requests: { remaining: 9 } });
    expect(second.state.requests).toBe(9);
  });

  it('settles the estimate against real use: a refund, or a debt that delays the next request', () => {
    const limit = { tokensPerMinute: 600 };
    const taken = takeFromBucket(fullBucket(limit, 0), limit, 500, 0);
    expect(settleBucket(taken.state, limit, -400, 0).tokens).toBe(500);
    const debt = settleBucket(taken.state, limit, 300, 0);
    expect(debt.tokens).toBe(-200);
    expect(takeFromBucket(debt, limit, 1, 0).verdict.retryAfterMs).toBe(20_100);
  });

  it('caps a request above the whole allowance at the allowance (it passes once the bucket is full)', () => {
    const limit = { tokensPerMinute: 100 };
    expect(takeFromBucket(fullBucket(limit, 0), limit, 5_000, 0).verdict).toMatchObject({
      allowed: true,
      tokens: { remaining: 0 },
    });
  });
});
