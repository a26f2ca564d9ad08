// The official openai npm client works against every simulated dialect for every call that dialect
// supports: chat streaming and non-streaming (vLLM, mlx_lm, llama.cpp), embeddings (vLLM pooling,
// llama.cpp, TEI), and gets an APIError for the calls a dialect does not serve.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { expectedCompletion, startSimEndpoint } from '../../src/sim/index.ts';
import { guardedFetch } from './client.ts';

const SEED = 11;
const sims: Record<string, SimServer> = {};

beforeAll(async () => {
  const latency = { scale: 0.01 };
  sims.vllm = await startSimEndpoint({
    dialect: 'vllm',
    model: 'qwen3-14b',
    reasoning: true,
    seed: SEED,
    latency,
  });
  sims.mlx = await startSimEndpoint({ dialect: 'mlx', model: 'qwen2.5-coder-7b', seed: SEED, latency });
  sims.llamacpp = await startSimEndpoint({
    dialect: 'llamacpp',
    model: 'r1',
    reasoning: true,
    seed: SEED,
    latency,
  });
  sims.tei = await startSimEndpoint({
    dialect: 'tei',
    model: 'qwen3-embedding',
    seed: SEED,
    latency,
    embeddingDimension: 64,
  });
  sims.vllmEmbed = await startSimEndpoint({
    dialect: 'vllm',
    kind: 'embeddings',
    model: 'e5',
    seed: SEED,
    latency,
    embeddingDimension: 32,
  });
});
afterAll(async () => {
  await Promise.all(Object.values(sims).map((s) => s.close()));
});

function client(name: string): OpenAI {
  return new OpenAI({
    baseURL: `${(sims[name] as SimServer).url}/v1`,
    apiKey: 'unused',
    fetch: guardedFetch,
    maxRetries: 0,
  });
}

const messages = [{ role: 'user' as const, content: 'Explain the queue in one paragraph.' }];

describe.each([
  ['vllm', 'qwen3-14b', true],
  ['mlx', 'qwen2.5-coder-7b', false],
  ['llamacpp', 'r1', true],
] as const)('%s chat through the openai client', (name, model, reasoning) => {
  const expected = expectedCompletion({ seed: SEED, messages, reasoning, maxTokens: 40 });

  it('non-streaming returns the deterministic answer with exact usage', async () => {
    const res = await client(name).chat.completions.create({ model, messages, max_tokens: 40 });
    const choice = res.choices[0];
    expect(choice?.message.content ?? '').toBe(expected.content);
    expect(res.usage?.completion_tokens).toBe(expected.completionTokens);
    expect(choice?.finish_reason).toBe(expected.finishReason);
  });

  it('streaming yields the same text, a finish_reason and usage when asked', async () => {
    const stream = await client(name).chat.completions.create({
      model,
      messages,
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let reasoningText = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as
        { content?: string | null; reasoning_content?: string; reasoning?: string } | undefined;
      content += delta?.content ?? '';
      reasoningText += delta?.reasoning_content ?? delta?.reasoning ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(content).toBe(expected.content);
    expect(reasoningText).toBe(expected.reasoning);
    expect(finish).toBe(expected.finishReason);
    expect(usage?.completion_tokens).toBe(expected.completionTokens);
  });
});

describe('embeddings through the openai client', () => {
  it.each([
    ['tei', 'qwen3-embedding', 64],
    ['vllmEmbed', 'e5', 32],
    ['llamacpp', 'r1', 1024],
  ] as const)(
    '%s: one unit vector per input, same text → same vector (base64 and float)',
    async (name, model, dimension) => {
      const c = client(name);
      const a = await c.embeddings.create({ model, input: ['alpha', 'beta', 'alpha'] });
      expect(a.data).toHaveLength(3);
      expect(a.data[0]?.embedding).toHaveLength(dimension);
      expect(a.data[2]?.embedding).toEqual(a.data[0]?.embedding);
      expect(a.data[1]?.embedding).not.toEqual(a.data[0]?.embedding);
      const norm = Math.hypot(...(a.data[0]?.embedding ?? []));
      expect(norm).toBeCloseTo(1, 4);
      const f = await c.embeddings.create({ model, input: 'alpha', encoding_format: 'float' });
      expect(f.data[0]?.embedding[0]).toBeCloseTo(a.data[0]?.embedding[0] ?? NaN, 5);
      expect(a.usage.prompt_tokens).toBe(3);
    },
  );

  it('mlx_lm has no embeddings: 404', async () => {
    await expect(
      client('mlx').embeddings.create({ model: 'qwen2.5-coder-7b', input: 'x' }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('TEI has no chat: 404; a vLLM pooling model refuses chat with 400', async () => {
    await expect(
      client('tei').chat.completions.create({ model: 'qwen3-embedding', messages }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      client('vllmEmbed').chat.completions.create({ model: 'e5', messages }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('does not support Chat Completions API'),
    });
  });
});
