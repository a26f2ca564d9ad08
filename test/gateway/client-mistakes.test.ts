// A client's mistake never counts against an endpoint: every sampling parameter is checked before
// anything is sent (an OpenAI-shaped 400 naming the field), a value one server refuses is refused
// up front with that server's limit (mlx_lm would close the connection unanswered, llama.cpp would
// answer a 500), and a provider's own 4xx reaches the client with its code, type and message.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimEndpoint } from '../../src/sim/endpoint.ts';
import { postJson, seen, startHarness, type Harness } from './harness.ts';

const messages = [{ role: 'user', content: 'a question with a mistake in it' }];

function circuit(h: Harness, endpoint: string): string | undefined {
  const b = h.gateway.context.breaker(endpoint);
  return b.snapshot(Date.now()).state;
}

describe('the real servers refuse these (simulator, as strict as the server)', () => {
  const post = (url: string, body: unknown): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('mlx_lm 0.31.2 closes the connection without an answer on top_k < 0, min_p > 1, top_logprobs > 11', async () => {
    const sim = await startSimEndpoint({ dialect: 'mlx', model: 'm', version: '0.31.2' });
    try {
      for (const bad of [
        { top_k: -1 },
        { min_p: 1.5 },
        { logprobs: true, top_logprobs: 12 },
        { temperature: null },
      ]) {
        await expect(
          post(sim.url, { messages, max_tokens: 4, ...bad }),
          JSON.stringify(bad),
        ).rejects.toThrow();
      }
      // Within the limits it answers, and 11 is its own top_logprobs maximum.
      const ok = await post(sim.url, { messages, max_tokens: 4, top_k: 0, logprobs: true, top_logprobs: 11 });
      expect(ok.status).toBe(200);
      await ok.text();
    } finally {
      await sim.close();
    }
  });

  it('mlx_lm 0.31.0 allowed top_logprobs only up to 10; ≤ 0.30.5 took logprobs as an integer', async () => {
    const v0310 = await startSimEndpoint({ dialect: 'mlx', model: 'm', version: '0.31.0' });
    const v0305 = await startSimEndpoint({ dialect: 'mlx', model: 'm', version: '0.30.5' });
    try {
      await expect(post(v0310.url, { messages, logprobs: true, top_logprobs: 11 })).rejects.toThrow();
      const five = await post(v0305.url, { messages, max_tokens: 4, logprobs: 5 });
      expect(five.status).toBe(200);
      await five.text();
      await expect(post(v0305.url, { messages, logprobs: 11 })).rejects.toThrow();
    } finally {
      await Promise.all([v0310.close(), v0305.close()]);
    }
  });

  it('llama.cpp b6715 answers n ≠ 1 with a 500 server_error (a runtime_error, not invalid_argument)', async () => {
    const sim = await startSimEndpoint({ dialect: 'llamacpp', model: 'r1', version: 'b6715' });
    try {
      const r = await post(sim.url, { messages, n: 2 });
      expect(r.status).toBe(500);
      expect(await r.json()).toMatchObject({
        error: { message: 'Only one completion choice is allowed', type: 'server_error' },
      });
    } finally {
      await sim.close();
    }
  });
});

describe('through the gateway', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      sim: { small: { version: '0.31.2' }, 'deepseek-r1': { version: 'b6715' } },
    });
  });
  afterAll(async () => {
    await h.close();
  });

  const cases: [string, Record<string, unknown>][] = [
    ['temperature', { temperature: 2.5 }],
    ['top_p', { top_p: 1.5 }],
    ['top_k', { top_k: -2 }],
    ['top_k', { top_k: 2.5 }],
    ['min_p', { min_p: 1.1 }],
    ['n', { n: 0 }],
    ['logprobs', { logprobs: 'yes' }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['top_logprobs', { logprobs: true, top_logprobs: 21 }],
    ['seed', { seed: 1.5 }],
    ['logit_bias', { logit_bias: { hello: 1 } }],
    ['logit_bias', { logit_bias: { '42': 101 } }],
    ['presence_penalty', { presence_penalty: 2.5 }],
    ['frequency_penalty', { frequency_penalty: -3 }],
    ['repetition_penalty', { repetition_penalty: -1 }],
    ['stop', { stop: 7 }],
    ['stop[1]', { stop: ['a', 3] }],
    ['max_tokens', { max_tokens: 0 }],
    // Against the window: coder-fast (40K) and its fallback coder (64K) both too small for it.
    ['max_tokens', { model: 'coder-fast', max_tokens: 1_000_000 }],
  ];

  it('names the field of every out-of-range sampling parameter, and sends nothing', async () => {
    const before = Object.keys(h.sims).map((name) => seen(h, name));
    for (const [param, extra] of cases) {
      const r = await postJson(h.url, '/v1/chat/completions', { model: 'auto', messages, ...extra });
      expect(
        { status: r.status, param: (r.body.error as { param?: string } | undefined)?.param },
        JSON.stringify(extra),
      ).toEqual({
        status: 400,
        param,
      });
    }
    expect(Object.keys(h.sims).map((name) => seen(h, name))).toEqual(before);
  });

  it("refuses what mlx_lm would close the connection on, up front, naming the field and mlx_lm's limit", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const before = seen(h, 'small');
    for (let i = 0; i < 8; i++) {
      const error = await client.chat.completions
        .create({ model: 'lightweight', messages: [{ role: 'user', content: 'hi' }], top_k: -1 } as never)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const e = error as InstanceType<typeof OpenAI.BadRequestError>;
      expect(e.param).toBe('top_k');
      expect(e.message).toMatch(/small.*mlx_lm.*at least 0/);
    }
    // Nothing reached mlx_lm, nothing was retried, and the endpoint is as healthy as before.
    expect(seen(h, 'small')).toBe(before);
    expect(h.gateway.context.health.state('small')).not.toBe('down');
    expect(circuit(h, 'small')).toBe('closed');
    // The same value is fine for a server that takes it (vLLM disables top-k at -1).
    const ok = await client.chat.completions.create({
      model: 'coder-fast',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
      top_k: -1,
    } as never);
    expect(ok.choices[0]?.message.content).toBeTruthy();
  });

  it('refuses top_logprobs above 11 for mlx_lm and n ≠ 1 for llama.cpp, never counting them against the endpoint', async () => {
    const mlx = await postJson(h.url, '/v1/chat/completions', {
      model: 'lightweight',
      messages,
      logprobs: true,
      top_logprobs: 15,
    });
    expect(mlx.status).toBe(400);
    expect(mlx.body.error).toMatchObject({
      param: 'top_logprobs',
      message: expect.stringMatching(/at most 11/),
    });
    const before = seen(h, 'deepseek-r1');
    const r1 = await postJson(h.url, '/v1/chat/completions', { model: 'reasoning', messages, n: 2 });
    expect(r1.status).toBe(400);
    expect(r1.body.error).toMatchObject({
      param: 'n',
      message: expect.stringMatching(/deepseek-r1.*llama\.cpp/),
    });
    expect(seen(h, 'deepseek-r1')).toBe(before);
    expect(circuit(h, 'deepseek-r1')).toBe('closed');
  });

  it('a null sampling value means "the default" and does not reach mlx_lm as None; nor does an XTC 0', async () => {
    const r = await postJson(h.url, '/v1/chat/completions', {
      model: 'small',
      messages,
      max_tokens: 8,
      temperature: null,
      top_p: null,
      repetition_context_size: null,
      xtc_probability: null,
      // 0.0 in the client's JSON arrives as 0, which mlx_lm (isinstance float) would refuse.
      xtc_threshold: 0,
    });
    expect(r.status).toBe(200);
  });
});

describe('provider error codes pass through', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ faults: { 'coder-fast': [{ kind: 'content-policy' }] } });
  });
  afterAll(async () => {
    await h.close();
  });

  it("a content-policy rejection keeps the upstream's code, type and message; no failover, no breaker", async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const coderBefore = seen(h, 'coder');
    for (const stream of [false, true]) {
      const error = await (async () => {
        try {
          const r = await client.chat.completions.create({
            model: 'coder-fast',
            messages: [{ role: 'user', content: 'hi' }],
            stream,
          } as never);
          if (stream) for await (const c of r as unknown as AsyncIterable<unknown>) void c;
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const e = error as InstanceType<typeof OpenAI.BadRequestError>;
      expect({ code: e.code, type: e.type, param: e.param }).toEqual({
        code: 'content_policy_violation',
        type: 'invalid_request_error',
        param: null,
      });
      expect(e.message).toMatch(/coder-fast: Your request was rejected as a result of our safety system/);
    }
    expect(seen(h, 'coder')).toBe(coderBefore);
    expect(circuit(h, 'coder-fast')).toBe('closed');
  });

  it("another 4xx (TEI 1.8.0's 422 on dimensions) keeps TEI's type and message", async () => {
    const r = await postJson(h.url, '/v1/embeddings', {
      model: 'embedding',
      input: ['x'],
      dimensions: 99_999,
    });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({
      type: 'Validation',
      message: expect.stringMatching(/^embeddings: `dimensions` must be between 1 and/),
    });
    expect(circuit(h, 'embeddings')).toBe('closed');
  });
});
