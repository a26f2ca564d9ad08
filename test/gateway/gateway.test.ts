// The gateway from the client's side, against simulated endpoints on loopback: routing by task,
// tokens and context fit; Retry-After; the circuit breaker; embeddings splitting; cancellation;
// auth; bad input; limits; models, health and metrics.
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  expectedAnswer,
  postJson,
  seen,
  startHarness,
  streamChat,
  TEST_TIMEOUTS,
  type Harness,
} from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const hello = [{ role: 'user', content: 'hello' }];
const words = (n: number): string => 'lorem '.repeat(n);

describe('routing', () => {
  it('by task, header, route name, endpoint name and model id', async () => {
    h = await startHarness();
    const go = async (model: string, headers: Record<string, string> = {}) =>
      (
        await postJson(h!.url, '/v1/chat/completions', { model, messages: hello, max_tokens: 20 }, headers)
      ).headers.get('x-llm-fleet-endpoint');
    expect(await go('auto')).toBe('coder-fast');
    expect(await go('auto', { 'x-llm-fleet-task': 'reasoning' })).toBe('deepseek-r1');
    expect(await go('reasoning')).toBe('deepseek-r1');
    expect(await go('routing')).toBe('coder-fast');
    expect(await go('lightweight')).toBe('small');
    expect(await go('coder')).toBe('coder');
    expect(await go('Qwen3-14B-AWQ')).toBe('coder-fast');
  });

  it('a code prompt over 40K tokens goes to the 64K coder', async () => {
    h = await startHarness();
    const r = await postJson(h.url, '/v1/chat/completions', {
      model: 'code',
      messages: [{ role: 'user', content: words(45_000) }],
      max_tokens: 16,
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder');
    expect(r.headers.get('x-llm-fleet-reason')).toContain('> 40000');
  });

  it('a request that fits no window is refused with 400 before anything goes upstream', async () => {
    // The example's `small` has no stated window (it would take anything): give it one here.
    h = await startHarness({ patch: (e) => (e.name === 'small' ? { contextWindowTokens: 32_768 } : {}) });
    const r = await postJson(h.url, '/v1/chat/completions', {
      model: 'auto',
      messages: [{ role: 'user', content: words(70_000) }],
    });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    for (const name of Object.keys(h.sims)) expect(seen(h, name)).toBe(0);
  });

  it('an unknown model is a 404 naming the field; /v1/models lists models and routes', async () => {
    h = await startHarness();
    const r = await postJson(h.url, '/v1/chat/completions', { model: 'gpt-9', messages: hello });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ param: 'model', code: 'model_not_found' });
    const models = (await (await fetch(`${h.url}/v1/models`)).json()) as { data: { id: string }[] };
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'Qwen3-14B-AWQ',
        'Qwen3-Embedding-8B-4bit',
        'auto',
        'code',
        'classification',
        'embedding',
        'reasoning',
        'lightweight',
      ]),
    );
  });
});

describe('usage', () => {
  it('is asked for upstream, recorded, and only shown to clients that asked', async () => {
    h = await startHarness();
    const plain = await streamChat(h.url, { model: 'auto', messages: hello, max_tokens: 50 });
    expect(plain.usage).toBeUndefined();
    expect(h.records.at(-1)?.completionTokens).toBeGreaterThan(0);
    expect(h.records.at(-1)?.tokenSource).toBe('usage');
    const asked = await streamChat(h.url, {
      model: 'auto',
      messages: hello,
      max_tokens: 50,
      stream_options: { include_usage: true },
    });
    expect(asked.usage?.completion_tokens).toBe(h.records.at(-1)?.completionTokens);
  });
});

describe('Retry-After', () => {
  it('a 429 sends traffic elsewhere and the endpoint gets nothing until the pause is over', async () => {
    h = await startHarness({ faults: { 'coder-fast': [{ kind: 'http-429', retryAfterSeconds: 30 }] } });
    for (let i = 0; i < 3; i++) {
      const r = await postJson(h.url, '/v1/chat/completions', {
        model: 'auto',
        messages: hello,
        max_tokens: 10,
      });
      expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder');
    }
    expect(seen(h, 'coder-fast')).toBe(1);
  });

  it('with no other candidate the gateway waits out a short Retry-After, then succeeds', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'http-503', retryAfterSeconds: 1, firstRequests: 1 }] },
      patch: (e) => (e.name === 'coder-fast' ? { fallbacks: [] } : {}),
    });
    const r = await postJson(h.url, '/v1/chat/completions', {
      model: 'coder-fast',
      messages: hello,
      max_tokens: 10,
    });
    expect(r.status).toBe(200);
    const arrivals = h.sims['coder-fast']!.groundTruth().map((t) => t.arrivalMs);
    expect(arrivals).toHaveLength(2);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(1000);
  });

  it('a long Retry-After with no other candidate comes back to the client as 503 + Retry-After', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'http-503', retryAfterSeconds: 120 }] },
      patch: (e) => (e.name === 'coder-fast' ? { fallbacks: [] } : {}),
    });
    const r = await postJson(h.url, '/v1/chat/completions', { model: 'coder-fast', messages: hello });
    expect(r.status).toBe(503);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(100);
    expect(seen(h, 'coder-fast')).toBe(1);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, half-opens after openMs, closes when the probe succeeds', async () => {
    let clockMs = 1_000_000;
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'http-500' }] },
      deps: { now: () => clockMs, breaker: { consecutiveFailures: 3, openMs: 10_000 } },
    });
    const ask = () =>
      postJson(h!.url, '/v1/chat/completions', { model: 'auto', messages: hello, max_tokens: 10 });
    for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(200);
    expect(seen(h, 'coder-fast')).toBe(3);
    const health = async () =>
      (
        (await (await fetch(`${h!.url}/fleet/health`)).json()) as {
          endpoints: { name: string; circuit: { state: string } }[];
        }
      ).endpoints.find((e) => e.name === 'coder-fast')?.circuit.state;
    expect(await health()).toBe('open');
    // Open: served around, the endpoint sees nothing.
    expect((await ask()).headers.get('x-llm-fleet-endpoint')).toBe('coder');
    expect(seen(h, 'coder-fast')).toBe(3);
    // It recovers; after openMs one request probes it and closes the circuit.
    h.setFaults('coder-fast', []);
    clockMs += 10_000;
    expect(await health()).toBe('half-open');
    expect((await ask()).headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
    expect(await health()).toBe('closed');
    expect((await ask()).headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
  });

  it('a failed half-open probe opens it again', async () => {
    let clockMs = 1_000_000;
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'http-500' }] },
      deps: { now: () => clockMs, breaker: { consecutiveFailures: 2, openMs: 5_000 } },
    });
    const ask = () =>
      postJson(h!.url, '/v1/chat/completions', { model: 'auto', messages: hello, max_tokens: 10 });
    await ask();
    await ask();
    clockMs += 5_000;
    await ask();
    expect(seen(h, 'coder-fast')).toBe(3);
    await ask();
    expect(seen(h, 'coder-fast')).toBe(3);
  });
});

describe('embeddings', () => {
  it('a batch over the TEI limit is split, sent in parts and merged in input order', async () => {
    h = await startHarness();
    const input = Array.from({ length: 70 }, (_, i) => `text number ${i}`);
    const r = await postJson(h.url, '/v1/embeddings', { model: 'embedding', input });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-llm-fleet-batches')).toBe('3');
    expect(h.sims.embeddings!.groundTruth().map((t) => t.inputs)).toEqual(
      expect.arrayContaining([32, 32, 6]),
    );
    const data = r.body.data as { index: number; embedding: number[] }[];
    expect(data.map((d) => d.index)).toEqual(input.map((_, i) => i));
    // Each vector is the one the server gives for that input alone.
    const direct = await postJson(h.sims.embeddings!.url, '/v1/embeddings', { input: [input[45]] });
    expect(data[45]!.embedding).toEqual((direct.body.data as { embedding: number[] }[])[0]!.embedding);
    expect(r.body.usage).toMatchObject({ prompt_tokens: expect.any(Number) });
  });
});

describe('cancellation', () => {
  it('a client that goes away cancels the upstream request at once', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'slow-decode', afterTokens: 2, tokensPerSecond: 0.1 }] },
    });
    const controller = new AbortController();
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', messages: hello, stream: true, max_tokens: 100 }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await vi.waitFor(() => expect(h!.sims['coder-fast']!.groundTruth()[0]?.outcome).toBe('client-abort'), {
      timeout: 10_000,
      interval: 20,
    });
    await vi.waitFor(() => expect(h!.records.at(-1)?.outcome).toBe('cancelled'), {
      timeout: 10_000,
      interval: 20,
    });
    expect(seen(h, 'coder')).toBe(0);
  });
});

describe('backpressure', () => {
  it('a client that stops reading pauses the upstream; that silence is not an idle timeout', async () => {
    // ~30,000 tokens (several MB) arrive in well under a second, far more than the sockets buffer.
    h = await startHarness({ latency: { decodeTokensPerSecond: 20_000 } });
    const maxTokens = 30_000;
    // node:http with the response paused: the socket is not read until resume().
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        `${h!.url}/v1/chat/completions`,
        { method: 'POST', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.pause();
          // Not reading for twice the idle timeout (1.5 s) while the upstream has everything to send.
          setTimeout(() => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
            res.on('error', reject);
            res.resume();
          }, 2 * TEST_TIMEOUTS.idleTimeoutMs);
        },
      );
      req.on('error', reject);
      req.end(
        JSON.stringify({
          model: 'coder-fast',
          messages: hello,
          stream: true,
          max_tokens: maxTokens,
          ignore_eos: true,
        }),
      );
    });
    expect(text).not.toContain('"error"');
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const content = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map(
        (e) =>
          (JSON.parse(e.slice(6)) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta
            ?.content ?? '',
      )
      .join('');
    expect(content).toBe(expectedAnswer(hello, { maxTokens, ignoreEos: true }).content);
    expect(content.length).toBeGreaterThan(100_000);
    await vi.waitFor(() => expect(h!.records.at(-1)?.attempts.length).toBe(1), {
      timeout: 10_000,
      interval: 20,
    });
    expect(seen(h, 'coder')).toBe(0);
  });
});

describe('protection', () => {
  it('API keys: Bearer required on the API, /health and /metrics open unless configured', async () => {
    h = await startHarness({ deps: { apiKeys: ['sk-test-12345678'] } });
    const none = await postJson(h.url, '/v1/chat/completions', { model: 'auto', messages: hello });
    expect(none.status).toBe(401);
    expect(none.body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    const wrong = await fetch(`${h.url}/v1/models`, {
      headers: { authorization: 'Bearer sk-wrong-1234567' },
    });
    expect(wrong.status).toBe(401);
    const ok = await postJson(
      h.url,
      '/v1/chat/completions',
      { model: 'auto', messages: hello, max_tokens: 5 },
      { authorization: 'Bearer sk-test-12345678' },
    );
    expect(ok.status).toBe(200);
    expect((await fetch(`${h.url}/health`)).status).toBe(200);
    expect((await fetch(`${h.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${h.url}/fleet/health`)).status).toBe(401);
    // The dashboard page and its assets carry no fleet data; they load so the page can ask for a key.
    expect((await fetch(`${h.url}/`)).status).not.toBe(401);
    expect((await fetch(`${h.url}/assets/app.js`)).status).not.toBe(401);
    expect((await fetch(`${h.url}/api/overview`)).status).toBe(401);
  });

  it('bad input gets an OpenAI-shaped 400 naming the field, and nothing goes upstream', async () => {
    h = await startHarness();
    const bad = async (body: unknown) =>
      (await postJson(h!.url, '/v1/chat/completions', body)).body.error as Record<string, unknown>;
    expect(await bad('{not json')).toMatchObject({ code: 'invalid_json', type: 'invalid_request_error' });
    expect(await bad({ model: 'auto' })).toMatchObject({ param: 'messages' });
    expect(await bad({ messages: [{ role: 'robot', content: 'x' }] })).toMatchObject({
      param: 'messages[0].role',
    });
    expect(await bad({ messages: hello, max_tokens: -1 })).toMatchObject({ param: 'max_tokens' });
    expect(await bad({ messages: hello, stream_options: { include_usage: true } })).toMatchObject({
      param: 'stream_options',
    });
    expect(await bad({ messages: hello, model: 42 })).toMatchObject({ param: 'model' });
    const emb = await postJson(h.url, '/v1/embeddings', { input: [] });
    expect(emb.body.error).toMatchObject({ param: 'input' });
    for (const name of Object.keys(h.sims)) expect(seen(h, name)).toBe(0);
  });

  it('a body over the limit is refused with 413', async () => {
    h = await startHarness({ gateway: { maxBodyBytes: 1000 } });
    const r = await postJson(h.url, '/v1/chat/completions', {
      messages: [{ role: 'user', content: words(1000) }],
    });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: 'body_too_large' });
  });

  it('a full endpoint queue answers 429 with Retry-After', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'slow-decode', afterTokens: 1, tokensPerSecond: 0.05 }] },
      patch: (e) => (e.name === 'coder-fast' ? { fallbacks: [], maxConcurrency: 1, maxQueue: 0 } : {}),
    });
    const first = streamChat(h.url, { model: 'coder-fast', messages: hello, max_tokens: 4 });
    await vi.waitFor(
      () => expect(h!.sims['coder-fast']!.groundTruth().length + inFlight(h!)).toBeGreaterThan(0),
      { timeout: 10_000, interval: 10 },
    );
    const second = await postJson(h.url, '/v1/chat/completions', { model: 'coder-fast', messages: hello });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(second.body.error).toMatchObject({ type: 'rate_limit_error' });
    expect((await first).error).toBeUndefined();
  });
});

function inFlight(h: Harness): number {
  return h.gateway.context.limit(h.fleet.endpoints.find((e) => e.name === 'coder-fast')!).inFlight;
}

describe('measurement', () => {
  it('records and metrics: TTFT from the first token, histogram buckets at every SLO threshold, headers', async () => {
    h = await startHarness();
    const messages = [{ role: 'user', content: 'measure me' }];
    const r = await streamChat(h.url, { model: 'auto', messages, max_tokens: 60 });
    expect(r.content).toBe(expectedAnswer(messages, { maxTokens: 60 }).content);
    expect(r.headers.get('server-timing')).toMatch(/gateway;dur=[\d.]+, upstream-ttft;dur=[\d.]+/);
    const rec = h.records.at(-1)!;
    expect(rec).toMatchObject({
      outcome: 'ok',
      endpoint: 'coder-fast',
      host: 'gpu-server',
      stream: true,
      tokenSource: 'usage',
    });
    expect(rec.ttftMs).toBeGreaterThan(0);
    expect(rec.timeToRoleMs).toBeLessThanOrEqual(rec.ttftMs!);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain(
      'gen_ai_server_time_to_first_token_seconds_bucket{le="0.8",endpoint="coder-fast"',
    );
    expect(metrics).toContain('le="1.5"');
    expect(metrics).toContain(
      'llm_fleet_requests_total{endpoint="coder-fast",route="auto",operation="chat",outcome="ok"} 1',
    );
    expect(metrics).toMatch(/gen_ai_client_token_usage_total\{endpoint="coder-fast",type="output"\} \d+/);
    // One SLO event per objective the request counts for, judged like the evaluator judges it.
    const p95 = rec.ttftMs! <= 800 ? 'good' : 'bad';
    const other = p95 === 'good' ? 'bad' : 'good';
    expect(metrics).toContain(
      `llm_slo_events_total{slo="coder-fast-ttft-p95",endpoint="coder-fast",outcome="${p95}"} 1`,
    );
    expect(metrics).toContain(
      `llm_slo_events_total{slo="coder-fast-ttft-p95",endpoint="coder-fast",outcome="${other}"} 0`,
    );
    expect(metrics).toContain('llm_slo_events_total{slo="coder-ttft-p95",endpoint="coder",outcome="good"} 0');
  });

  it('degraded mode: while an endpoint is down its host is marked degraded in records', async () => {
    h = await startHarness({ faults: { 'coder-fast': [{ kind: 'down' }] } });
    for (let i = 0; i < 3; i++)
      await postJson(h.url, '/v1/chat/completions', { model: 'auto', messages: hello, max_tokens: 5 });
    const last = h.records.at(-1)!;
    expect(last.endpoint).toBe('coder');
    expect(last.degraded).toBe(true);
    const fh = (await (await fetch(`${h.url}/fleet/health`)).json()) as { degradedHosts: string[] };
    expect(fh.degradedHosts).toContain('gpu-server');
  });
});
