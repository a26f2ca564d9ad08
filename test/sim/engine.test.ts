// The concurrency model (max-num-seqs slots and a waiting queue), the prefix cache, and text
// completions, seen from outside: usage, ground truth and /metrics.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint, ttftMedianMs, latencyModel } from '../../src/sim/index.ts';
import { get, guardedFetch, post } from './client.ts';

let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

describe('sequence slots and the waiting queue', () => {
  it('with max-num-seqs 1, a second request waits for the first and the metrics show it waiting', async () => {
    const s = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { maxNumSeqs: 1, prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 100 },
    });
    servers.push(s);
    const body = { messages: [{ role: 'user', content: 'queue me' }], max_tokens: 20, ignore_eos: true };
    const first = post(`${s.url}/v1/chat/completions`, body);
    const second = post(`${s.url}/v1/chat/completions`, body);
    // While both are in flight, one runs and one waits.
    let metrics = '';
    for (let i = 0; i < 200 && !/vllm:num_requests_waiting\{[^}]*\} 1\n/.test(metrics); i++) {
      metrics = (await get(`${s.url}/metrics`)).text;
    }
    expect(metrics).toMatch(/vllm:num_requests_running\{[^}]*\} 1\n/);
    expect(metrics).toMatch(/vllm:num_requests_waiting\{[^}]*\} 1\n/);
    await Promise.all([first, second]);
    const [a, b] = s.groundTruth();
    // The second arrived while the first was decoding (20 tokens at 100 tok/s ≈ 200 ms) and started
    // only when the first ended. How long it waited depends on how late the busy machine delivered
    // the second request, so the bound is relative to the first one's end, not a fixed figure.
    expect(b?.arrivalMs ?? Infinity).toBeLessThan(a?.endAtMs ?? 0);
    expect(b?.queueMs).toBeGreaterThanOrEqual((a?.endAtMs ?? 0) - (b?.arrivalMs ?? 0) - 2);
  });
});

describe('prefix cache', () => {
  it('a repeated conversation prefix is served from the cache: cached tokens in usage, shorter scheduled TTFT', async () => {
    const latency = { prefillOverheadMs: 10, prefillMsPerToken: 1, ttftJitterP99Ratio: 1 };
    const s = await startSimEndpoint({ dialect: 'llamacpp', model: 'm', latency });
    servers.push(s);
    const system = { role: 'system', content: Array.from({ length: 120 }, (_, i) => `rule${i}`).join(' ') };
    const one = JSON.parse(
      (
        await post(`${s.url}/v1/chat/completions`, {
          messages: [system, { role: 'user', content: 'first question' }],
          max_tokens: 2,
        })
      ).text,
    );
    const two = JSON.parse(
      (
        await post(`${s.url}/v1/chat/completions`, {
          messages: [system, { role: 'user', content: 'second question' }],
          max_tokens: 2,
        })
      ).text,
    );
    expect(one.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const cached = two.usage.prompt_tokens_details.cached_tokens as number;
    expect(cached % 16).toBe(0);
    expect(cached).toBeGreaterThan(100);
    expect(two.timings.cache_n).toBe(cached);
    const [t1, t2] = s.groundTruth();
    const model = latencyModel(latency);
    // Prefill time the model chose (TTFT minus time before a slot was free: body read, queue).
    expect((t1?.scheduledTtftMs ?? 0) - (t1?.queueMs ?? 0)).toBeCloseTo(
      ttftMedianMs(model, one.usage.prompt_tokens),
      0,
    );
    expect((t2?.scheduledTtftMs ?? 0) - (t2?.queueMs ?? 0)).toBeCloseTo(
      ttftMedianMs(model, two.usage.prompt_tokens, cached),
      0,
    );
  });
});

describe('prefix cache bounded by the KV cache (vLLM automatic prefix caching)', () => {
  /** A system prompt of its own words; the cached tokens the server's ground truth records for it
   *  (vLLM reports prompt_tokens_details as null unless --enable-prompt-tokens-details). */
  const ask = async (s: SimServer, tenant: string): Promise<number> => {
    const system = {
      role: 'system',
      content: Array.from({ length: 400 }, (_, i) => `${tenant}rule${i}`).join(' '),
    };
    await post(`${s.url}/v1/chat/completions`, {
      messages: [system, { role: 'user', content: 'a question' }],
      max_tokens: 1,
    });
    return s.groundTruth().at(-1)?.cachedPromptTokens as number;
  };

  it('keeps what the KV cache holds and evicts the least recently used prefix beyond it', async () => {
    const latency = { scale: 0.01 };
    // 4096 tokens of KV (256 blocks of 16): room for the prefixes of a few tenants, not of many.
    const s = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency,
      contextWindowTokens: 4096,
      engine: { kvCacheTokens: 4096 },
    });
    servers.push(s);
    expect(await ask(s, 'a')).toBe(0);
    expect(await ask(s, 'b')).toBe(0);
    // Two tenants fit: a is still cached.
    const hit = await ask(s, 'a');
    expect(hit).toBeGreaterThan(512);
    const prompt = s.groundTruth().at(-1)?.promptTokens as number;
    // Enough other tenants to fill the KV cache push a out (least recently used first).
    const tenants = Math.ceil(4096 / prompt) + 1;
    for (let i = 0; i < tenants; i++) await ask(s, `t${i}`);
    expect(await ask(s, 'a')).toBe(0);
    // The most recent one is still there.
    expect(await ask(s, `t${tenants - 1}`)).toBeGreaterThan(512);
  });
});

describe('text completions', () => {
  it('vLLM /v1/completions through the openai client, streaming and not', async () => {
    const s = await startSimEndpoint({ dialect: 'vllm', model: 'm', seed: 2, latency: { scale: 0.01 } });
    servers.push(s);
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', fetch: guardedFetch, maxRetries: 0 });
    const whole = await client.completions.create({ model: 'm', prompt: 'def add(a, b):', max_tokens: 12 });
    expect(whole.object).toBe('text_completion');
    expect(whole.usage?.completion_tokens).toBe(12);
    const stream = await client.completions.create({
      model: 'm',
      prompt: 'def add(a, b):',
      max_tokens: 12,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(whole.choices[0]?.text);
  });
});

describe('stop strings', () => {
  it.each(['vllm', 'mlx', 'llamacpp'] as const)(
    '%s stops before the first stop string (vLLM reports it as stop_reason)',
    async (dialect) => {
      const s = await startSimEndpoint({ dialect, model: 'm', seed: 6, latency: { scale: 0.01 } });
      servers.push(s);
      const messages = [{ role: 'user', content: 'one sentence only' }];
      const full = JSON.parse(
        (await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 300 })).text,
      );
      const fullText = full.choices[0].message.content as string;
      const stopped = JSON.parse(
        (await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 300, stop: ['.'] })).text,
      );
      expect(stopped.choices[0].message.content).toBe(fullText.slice(0, fullText.indexOf('.')));
      expect(stopped.choices[0].finish_reason).toBe('stop');
      if (dialect === 'vllm') expect(stopped.choices[0].stop_reason).toBe('.');
    },
  );
});
