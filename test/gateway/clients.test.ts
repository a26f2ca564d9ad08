// The official openai client and the Vercel AI SDK's OpenAI-compatible provider, unmodified,
// against the gateway: streaming and not, chat and embeddings.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { embedMany, generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedAnswer, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 3 }] } });
});
afterAll(async () => {
  await h.close();
});

const messages = [{ role: 'user' as const, content: 'a client question' }];
const expected = () => expectedAnswer(messages, { maxTokens: 200 }).content;

describe('openai client', () => {
  it('streams a whole answer even across a mid-stream failure', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'auto',
      messages,
      max_tokens: 200,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe(expected());
  });

  it('non-streaming, with usage and the answering model', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'auto', messages, max_tokens: 200 });
    expect(r.choices[0]?.message.content).toBe(expected());
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('an explicit mid-stream error surfaces as an exception, not a short answer', async () => {
    const noRescue = await startHarness({
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 3 }] },
      patch: () => ({ canContinue: false }),
    });
    try {
      const client = new OpenAI({ baseURL: `${noRescue.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const stream = await client.chat.completions.create({
        model: 'auto',
        messages,
        max_tokens: 200,
        stream: true,
      });
      await expect(async () => {
        for await (const chunk of stream) void chunk;
      }).rejects.toThrow(/stream_cut/);
    } finally {
      await noRescue.close();
    }
  });

  it('embeddings and models', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.embeddings.create({ model: 'embedding', input: ['a', 'b', 'c'] });
    expect(r.data.map((d) => d.index)).toEqual([0, 1, 2]);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('auto');
  });
});

describe('openai client, text completions (/v1/completions)', () => {
  const prompt = 'def fibonacci(n):';
  /** What a simulated endpoint answers to a completions request, asked directly. */
  const direct = async (endpoint: string, body: Record<string, unknown>): Promise<string> => {
    const res = await fetch(`${h.sims[endpoint]!.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: h.fleet.endpoints.find((e) => e.name === endpoint)!.servedModel,
        ...body,
      }),
    });
    // A cut stream is read up to the cut.
    let text = '';
    const decoder = new TextDecoder();
    try {
      for await (const piece of res.body!) text += decoder.decode(piece, { stream: true });
    } catch {
      // the simulated cut
    }
    return text;
  };
  const streamedText = (sse: string): string =>
    sse
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => (JSON.parse(e.slice(6)) as { choices: { text?: string }[] }).choices[0]?.text ?? '')
      .join('');

  it('non-streaming and streaming answers are what the endpoint itself answers', async () => {
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const truth = JSON.parse(await direct('coder', { prompt, max_tokens: 40 })) as {
      choices: { text: string }[];
    };
    const whole = await client.completions.create({ model: 'coder', prompt, max_tokens: 40 });
    expect(whole.choices[0]?.text).toBe(truth.choices[0]?.text);
    expect(whole.usage?.completion_tokens).toBeGreaterThan(0);
    const stream = await client.completions.create({ model: 'coder', prompt, max_tokens: 40, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(truth.choices[0]?.text);
  });

  it('a stream cut mid-answer is continued by appending the partial text to the prompt', async () => {
    // coder-fast cuts after 3 tokens; the rescue asks coder (vLLM) to complete prompt + partial.
    const partial = streamedText(await direct('coder-fast', { prompt, max_tokens: 40, stream: true }));
    expect(partial).not.toBe('');
    const rest = JSON.parse(await direct('coder', { prompt: prompt + partial, max_tokens: 37 })) as {
      choices: { text: string }[];
    };
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.completions.create({
      model: 'coder-fast',
      prompt,
      max_tokens: 40,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(partial + rest.choices[0]?.text);
  });
});

describe('Vercel AI SDK (openai-compatible)', () => {
  const provider = () =>
    createOpenAICompatible({ name: 'llm-fleet', baseURL: `${h.url}/v1`, includeUsage: true });

  it('streamText', async () => {
    const result = streamText({ model: provider()('auto'), messages, maxOutputTokens: 200, maxRetries: 0 });
    let text = '';
    for await (const part of result.textStream) text += part;
    expect(text).toBe(expected());
    expect((await result.usage).outputTokens).toBeGreaterThan(0);
  });

  it('generateText', async () => {
    const { text } = await generateText({
      model: provider()('auto'),
      messages,
      maxOutputTokens: 200,
      maxRetries: 0,
    });
    expect(text).toBe(expected());
  });

  it('embedMany over the batch limit', async () => {
    const values = Array.from({ length: 40 }, (_, i) => `value ${i}`);
    const { embeddings } = await embedMany({
      model: provider().textEmbeddingModel('embedding'),
      values,
      maxRetries: 0,
    });
    expect(embeddings).toHaveLength(40);
    expect(embeddings[0]?.length).toBeGreaterThan(0);
  });
});
