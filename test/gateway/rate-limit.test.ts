// Per-key limits on one gateway (in-process state): 429 with Retry-After and the OpenAI rate-limit
// headers beyond the allowance, the headers on every answer, one bucket per key, and tokens
// charged at admission (prompt estimate + max_tokens) then settled against the real usage.
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

const KEY_A = 'sk-team-a-0001';
const KEY_B = 'sk-team-b-0002';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function chat(url: string, key: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({
      model: 'coder-fast',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
      ...body,
    }),
  });
}

describe('per-key rate limits', () => {
  it('answers 429 with Retry-After and x-ratelimit-* beyond requestsPerMinute; another key has its own bucket', async () => {
    h = await startHarness({
      gateway: {
        apiKeys: [KEY_A, KEY_B],
        keyLimits: [{ key: KEY_A, name: 'team-a', requestsPerMinute: 3 }],
        rateLimit: { requestsPerMinute: 100 },
      },
    });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await chat(h.url, KEY_A));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((r) => r.headers.get('x-ratelimit-remaining-requests'))).toEqual(['2', '1', '0', '0']);
    expect(answers[0]?.headers.get('x-ratelimit-limit-requests')).toBe('3');
    const refused = answers[3] as Response;
    // One request regains in 20 s at 3/min.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(19);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(20);
    expect(refused.headers.get('x-ratelimit-reset-requests')).toMatch(/^(59|60)(\.\d+)?s$|^1m0s$/);
    const body = (await refused.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(body.error.message).toContain('team-a');
    // Refused before any endpoint was tried: a client's excess is not an endpoint's failure.
    expect(h.records.at(-1)).toMatchObject({ status: 429, outcome: 'rejected', attempts: [] });
    // Key B falls under the fleet-wide default.
    const b = await chat(h.url, KEY_B);
    expect(b.status).toBe(200);
    expect(b.headers.get('x-ratelimit-limit-requests')).toBe('100');
    expect(b.headers.get('x-ratelimit-remaining-requests')).toBe('99');
  });

  it('charges the prompt estimate plus max_tokens at admission and settles the real usage after', async () => {
    h = await startHarness({
      gateway: { apiKeys: [KEY_A], keyLimits: [{ key: KEY_A, tokensPerMinute: 600 }] },
    });
    const first = await chat(h.url, KEY_A, { max_tokens: 500 });
    expect(first.status).toBe(200);
    const charged = 600 - Number(first.headers.get('x-ratelimit-remaining-tokens'));
    expect(charged).toBeGreaterThanOrEqual(500);
    const usage = ((await first.json()) as { usage: { total_tokens: number } }).usage;
    expect(usage.total_tokens).toBeLessThan(charged);
    // The second asks for 500 again: the first's unused tokens have been refunded, so it passes.
    const second = await chat(h.url, KEY_A, { max_tokens: 500 });
    expect(second.status).toBe(200);
    const third = await chat(h.url, KEY_A, { max_tokens: 500 });
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: { type: string } }).error.type).toBe('tokens');
    expect(third.headers.get('x-ratelimit-limit-tokens')).toBe('600');
  });

  it('without any limit the answers carry no rate-limit headers', async () => {
    h = await startHarness();
    const r = await chat(h.url, 'unused-key-123');
    expect(r.status).toBe(200);
    expect(r.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });
});
