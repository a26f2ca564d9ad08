// Bad requests get each dialect's real error shape; the info routes (health, models, version,
// props, info, tokenize, metrics) answer as the real servers do; loading phases behave per server.
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { SimEndpointOptions, SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { agent, get, post } from './client.ts';

const servers: SimServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function sim(
  options: Partial<SimEndpointOptions> & Pick<SimEndpointOptions, 'dialect'>,
): Promise<SimServer> {
  const s = await startSimEndpoint({ model: 'm', latency: { scale: 0.01 }, ...options });
  servers.push(s);
  return s;
}
const longText = (words: number): string => Array.from({ length: words }, (_, i) => `w${i % 10}x`).join(' ');

describe('vLLM errors', () => {
  it('prompt over max_model_len and prompt + max_tokens over it: the two v0.11 messages (chat ends in " None")', async () => {
    const s = await sim({ dialect: 'vllm', contextWindowTokens: 100 });
    const tooLong = await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: longText(200) }],
    });
    expect(tooLong.status).toBe(400);
    expect(JSON.parse(tooLong.text)).toEqual({
      error: {
        message: expect.stringMatching(
          /^This model's maximum context length is 100 tokens\. However, your request has \d+ input tokens\. Please reduce the length of the input messages\. None$/,
        ),
        type: 'BadRequestError',
        param: null,
        code: 400,
      },
    });
    const tooMany = await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 95,
    });
    expect(JSON.parse(tooMany.text).error.message).toMatch(
      /^'max_tokens' or 'max_completion_tokens' is too large: 95\. This model's maximum context length is 100 tokens and your request has 9 input tokens \(95 > 100 - 9\)\. None$/,
    );
  });

  it('vLLM ≤ 0.10.0 uses the flat error object; unknown model 404; stream_options without stream 400', async () => {
    const old = await sim({ dialect: 'vllm', version: '0.10.0', contextWindowTokens: 50 });
    const flat = await post(`${old.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: longText(100) }],
    });
    expect(JSON.parse(flat.text)).toMatchObject({ object: 'error', type: 'BadRequestError', code: 400 });
    const s = await sim({ dialect: 'vllm' });
    const unknown = await post(`${s.url}/v1/chat/completions`, {
      model: 'foo',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error).toMatchObject({
      message: 'The model `foo` does not exist.',
      type: 'NotFoundError',
    });
    const opts = await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'hi' }],
      stream_options: { include_usage: true },
    });
    expect(JSON.parse(opts.text).error.message).toBe(
      'Stream options can only be defined when `stream=True`.',
    );
  });

  it('unknown route {"detail":"Not Found"}; /health empty 200; /version; /v1/models with max_model_len', async () => {
    const s = await sim({ dialect: 'vllm', model: 'qwen3-coder', contextWindowTokens: 65536 });
    expect(await get(`${s.url}/nope`)).toMatchObject({ status: 404, text: '{"detail":"Not Found"}' });
    expect(await get(`${s.url}/health`)).toMatchObject({ status: 200, text: '' });
    expect(JSON.parse((await get(`${s.url}/version`)).text)).toEqual({ version: '0.11.0' });
    const models = JSON.parse((await get(`${s.url}/v1/models`)).text);
    expect(models.data[0]).toMatchObject({
      id: 'qwen3-coder',
      object: 'model',
      owned_by: 'vllm',
      max_model_len: 65536,
      parent: null,
    });
  });

  it('/metrics has the real names, vLLM buckets and counts that follow the requests', async () => {
    const s = await sim({ dialect: 'vllm', model: 'qwen3-coder' });
    await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
    });
    const res = await get(`${s.url}/metrics`);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    for (const name of [
      'vllm:time_to_first_token_seconds_bucket',
      'vllm:inter_token_latency_seconds_bucket',
      'vllm:e2e_request_latency_seconds_bucket',
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:kv_cache_usage_perc',
    ]) {
      expect(res.text).toContain(name);
    }
    expect(res.text).toContain(
      'vllm:time_to_first_token_seconds_bucket{engine="0",model_name="qwen3-coder",le="0.001"}',
    );
    expect(res.text).toContain(
      'vllm:time_to_first_token_seconds_bucket{engine="0",model_name="qwen3-coder",le="2560.0"} 1',
    );
    expect(res.text).toMatch(/vllm:generation_tokens_total\{engine="0",model_name="qwen3-coder"\} 4\n/);
    expect(res.text).toMatch(
      /vllm:request_success_total\{engine="0",model_name="qwen3-coder",finished_reason="length"\} 1\n/,
    );
  });

  it('ignore_eos runs to max_tokens; min_tokens is honoured', async () => {
    const s = await sim({ dialect: 'vllm' });
    const messages = [{ role: 'user', content: 'hi' }];
    const natural = JSON.parse((await post(`${s.url}/v1/chat/completions`, { messages })).text);
    const n = natural.usage.completion_tokens as number;
    const forced = JSON.parse(
      (await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: n + 50, ignore_eos: true })).text,
    );
    expect(forced.usage.completion_tokens).toBe(n + 50);
    expect(forced.choices[0].finish_reason).toBe('length');
    const min = JSON.parse(
      (await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: n + 50, min_tokens: n + 10 })).text,
    );
    expect(min.usage.completion_tokens).toBe(n + 10);
    expect(min.choices[0].finish_reason).toBe('stop');
  });
});

describe('mlx_lm errors and routes', () => {
  it('invalid parameters close the connection without any HTTP response', async () => {
    const s = await sim({ dialect: 'mlx' });
    await expect(
      post(`${s.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], temperature: -1 }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/UND_ERR_SOCKET|ECONNRESET/),
    });
    await expect(post(`${s.url}/v1/chat/completions`, { model: 'default_model' })).rejects.toBeDefined();
  });

  it('no context check; max_tokens defaults to 512; the model field echoes the request', async () => {
    const s = await sim({ dialect: 'mlx', model: 'mlx-community/Qwen2.5-Coder-7B', contextWindowTokens: 10 });
    const res = await post(`${s.url}/v1/chat/completions`, {
      model: 'default_model',
      messages: [{ role: 'user', content: longText(50) }],
      ignore_eos: true,
    });
    const body = JSON.parse(res.text);
    expect(res.status).toBe(200);
    expect(body.model).toBe('default_model');
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(512);
  });

  it('health {"status": "ok"} with a space; unknown path plain Not Found; no metrics; Content-Length required', async () => {
    const s = await sim({ dialect: 'mlx' });
    expect(await get(`${s.url}/health`)).toMatchObject({ status: 200, text: '{"status": "ok"}' });
    expect(await get(`${s.url}/nope`)).toMatchObject({ status: 404, text: 'Not Found' });
    expect((await get(`${s.url}/metrics`)).status).toBe(404);
    const res = await request(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      // A stream body is sent chunked, without Content-Length.
      body: Readable.from([Buffer.from('{"messages":[]}')]),
    });
    expect(res.statusCode).toBe(411);
    expect(await res.body.text()).toBe('{"error": "Content-Length header is required"}');
  });
});

it('mlx_lm ≤ 0.31.2 refuses connections while loading; ≥ 0.31.3 answers /health and holds requests', async () => {
  const old = await sim({ dialect: 'mlx', startupMs: 300 });
  await expect(get(`${old.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  const fresh = await sim({ dialect: 'mlx', version: '0.31.3', startupMs: 300, latency: { scale: 0.01 } });
  expect((await get(`${fresh.url}/health`)).text).toBe('{"status": "ok"}');
  const res = await post(`${fresh.url}/v1/chat/completions`, {
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 2,
  });
  expect(res.status).toBe(200);
  const truth = fresh.groundTruth().at(-1);
  expect(truth?.queueMs).toBeGreaterThanOrEqual(250);
});

describe('llama.cpp errors and routes', () => {
  it('exceed_context_size_error with n_prompt_tokens and n_ctx; max_tokens is not checked (length at the edge)', async () => {
    const s = await sim({ dialect: 'llamacpp', contextWindowTokens: 40 });
    const over = await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: longText(60) }],
    });
    expect(over.status).toBe(400);
    const e = JSON.parse(over.text).error;
    expect(e).toMatchObject({ code: 400, type: 'exceed_context_size_error', n_ctx: 40 });
    expect(e.message).toBe(
      `request (${e.n_prompt_tokens} tokens) exceeds the available context size (40 tokens), try increasing it`,
    );
    const edge = JSON.parse(
      (
        await post(`${s.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 1000,
          ignore_eos: true,
        })
      ).text,
    );
    expect(edge.usage.prompt_tokens + edge.usage.completion_tokens).toBe(40);
    expect(edge.choices[0].finish_reason).toBe('length');
  });

  it('503 Loading model on every route during start-up, then {"status":"ok"}; /props n_ctx; llamacpp: metrics', async () => {
    const s = await sim({ dialect: 'llamacpp', startupMs: 400, contextWindowTokens: 32768 });
    const loading = await get(`${s.url}/health`);
    expect(loading.status).toBe(503);
    expect(JSON.parse(loading.text)).toEqual({
      error: { code: 503, message: 'Loading model', type: 'unavailable_error' },
    });
    await new Promise((r) => setTimeout(r, 450));
    expect(await get(`${s.url}/health`)).toMatchObject({ status: 200, text: '{"status":"ok"}' });
    expect(JSON.parse((await get(`${s.url}/props`)).text).default_generation_settings.n_ctx).toBe(32768);
    expect(JSON.parse((await get(`${s.url}/v1/models`)).text).data[0].meta.n_ctx).toBe(32768);
    const metrics = await get(`${s.url}/metrics`);
    expect(metrics.text).toContain('llamacpp:prompt_tokens_total');
    expect(metrics.headers['process-start-time-unix']).toBeDefined();
    expect(JSON.parse((await get(`${s.url}/nope`)).text)).toEqual({
      error: { code: 404, message: 'File Not Found', type: 'not_found_error' },
    });
  });
});

describe('TEI errors and routes', () => {
  it('422 over the batch limit, 413 over the body limit, unwrapped error shape', async () => {
    const s = await sim({ dialect: 'tei', embeddingDimension: 8 });
    const over = await post(`${s.url}/v1/embeddings`, { input: Array.from({ length: 33 }, () => 'x') });
    expect(over.status).toBe(422);
    expect(JSON.parse(over.text)).toEqual({
      message: 'batch size 33 > maximum allowed batch size 32',
      code: 422,
      type: 'Validation',
    });
    const huge = await post(`${s.url}/v1/embeddings`, { input: 'x'.repeat(2_100_000) });
    expect(huge.status).toBe(413);
    const empty = await post(`${s.url}/v1/embeddings`, { input: [] });
    expect(JSON.parse(empty.text)).toMatchObject({ code: 400, type: 'Empty' });
  });

  it('429 Model is overloaded past 512 concurrent inputs', async () => {
    // 16 batches of 32 fill the 512 permits exactly; the 17th finds none. Each batch takes 1 s so
    // all 17 are in flight together however late a loaded machine sends the last one (the time is
    // not what is checked: the ground truth below says which requests overlapped).
    const s = await sim({
      dialect: 'tei',
      embeddingDimension: 4,
      latency: { scale: 1, embeddingOverheadMs: 1_000, embeddingMsPerInput: 0 },
    });
    const batch = { input: Array.from({ length: 32 }, (_, i) => `t${i}`) };
    const results = await Promise.all(
      Array.from({ length: 17 }, () => post(`${s.url}/v1/embeddings`, batch)),
    );
    const overloaded = results.filter((r) => r.status === 429);
    expect(overloaded).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(16);
    expect(JSON.parse(overloaded[0]?.text ?? '{}')).toEqual({
      message: 'Model is overloaded',
      code: 429,
      type: 'Overloaded',
    });
    // The refused one arrived while all 16 admitted batches (512 inputs) were in flight.
    const truth = s.groundTruth();
    const refused = truth.filter((t) => t.status === 429);
    const served = truth.filter((t) => t.status === 200);
    expect(refused).toHaveLength(1);
    expect(served.reduce((n, t) => n + (t.inputs ?? 0), 0)).toBe(512);
    const at = refused[0]?.arrivalMs as number;
    for (const t of served) {
      expect(t.arrivalMs).toBeLessThanOrEqual(at);
      expect(t.endAtMs as number).toBeGreaterThan(at);
    }
  });

  it('/info has max_client_batch_size 32; /health empty 200; refuses connections while loading', async () => {
    const s = await sim({ dialect: 'tei', model: 'Qwen/Qwen3-Embedding-8B', startupMs: 300 });
    await expect(get(`${s.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await new Promise((r) => setTimeout(r, 400));
    expect(await get(`${s.url}/health`)).toMatchObject({ status: 200, text: '' });
    expect(JSON.parse((await get(`${s.url}/info`)).text)).toMatchObject({
      model_id: 'Qwen/Qwen3-Embedding-8B',
      max_client_batch_size: 32,
      max_concurrent_requests: 512,
    });
  });
});

it('vLLM refuses connections while loading, then listens on the same port', async () => {
  const s = await sim({ dialect: 'vllm', startupMs: 300 });
  await expect(get(`${s.url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  await new Promise((r) => setTimeout(r, 400));
  expect((await get(`${s.url}/health`)).status).toBe(200);
});
