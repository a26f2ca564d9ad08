// Context-length errors in every form the servers use: each is recognised and the request goes on
// to a candidate with a larger window (coder-fast 40K → coder 64K, deepseek-r1 32K → coder), from
// vLLM's wordings across versions, llama.cpp's HTTP 400 and its older in-stream error event, and
// TEI's token and character checks. Each case names the server version the simulator imitates.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../../src/sim/faults.ts';
import { postJson, startHarness, streamChat, type Harness } from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const messages = [{ role: 'user', content: 'a prompt that one server finds too long' }];

/** What the faulty endpoint's simulator says to the request, read directly. */
async function wording(url: string, path: string, body: Record<string, unknown>): Promise<string> {
  const r = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return r.text();
}

const vllmCases: { version: string; form: FaultSpec['form']; says: RegExp }[] = [
  { version: '0.9.1', form: 'prompt', says: /you requested \d+ tokens in the messages, Please reduce/ },
  { version: '0.9.1', form: 'max-tokens', says: /\(\d+ in the messages, \d+ in the completion\)/ },
  { version: '0.11.0', form: 'prompt', says: /However, your request has \d+ input tokens/ },
  { version: '0.11.0', form: 'max-tokens', says: /'max_tokens' or 'max_completion_tokens' is too large/ },
  {
    version: '0.25.1',
    form: 'over-window',
    says: /max_tokens=\d+ cannot be greater than max_model_len=max_total_tokens=40960/,
  },
  {
    version: '0.25.1',
    form: 'prompt',
    says: /your prompt contains at least \d+ input tokens, for a total of at least \d+ tokens/,
  },
  {
    version: '0.25.1',
    form: 'max-tokens',
    says: /you requested \d+ output tokens and your prompt contains \d+ input tokens, for a total of \d+/,
  },
];

describe('vLLM', () => {
  for (const { version, form, says } of vllmCases) {
    it(`vLLM ${version}, ${form}: ${says.source.slice(0, 50)}… → rerouted to the larger window`, async () => {
      h = await startHarness({
        sim: { 'coder-fast': { version } },
        faults: { 'coder-fast': [{ kind: 'context-400', form }] },
      });
      const direct = await wording(h.sims['coder-fast']!.url, '/v1/chat/completions', {
        messages,
        max_tokens: 64,
      });
      expect(direct).toMatch(says);
      for (const stream of [true, false]) {
        const r = stream
          ? await streamChat(h.url, { model: 'code', messages, max_tokens: 64 })
          : await postJson(h.url, '/v1/chat/completions', { model: 'code', messages, max_tokens: 64 });
        expect(r.status).toBe(200);
        expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder');
      }
      const attempts = h.records.map((rec) => rec.attempts.map((a) => `${a.endpoint}:${a.error ?? 'ok'}`));
      expect(attempts).toEqual([
        ['coder-fast:context_length', 'coder:ok'],
        ['coder-fast:context_length', 'coder:ok'],
      ]);
      // The window was the request's problem, not the endpoint's.
      expect(h.gateway.context.breaker('coder-fast').snapshot(Date.now()).state).toBe('closed');
    });
  }
});

describe('llama.cpp', () => {
  it('b6715: HTTP 400 exceed_context_size_error → rerouted (openai client, streamed and whole)', async () => {
    h = await startHarness({
      sim: { 'deepseek-r1': { version: 'b6715' } },
      faults: { 'deepseek-r1': [{ kind: 'context-400' }] },
    });
    const direct = await fetch(`${h.sims['deepseek-r1']!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages, stream: true }),
    });
    expect(direct.status).toBe(400);
    expect(await direct.json()).toMatchObject({ error: { type: 'exceed_context_size_error' } });
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const whole = await client.chat.completions.create({
      model: 'reasoning',
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 32,
    });
    expect(whole.choices[0]?.message.content).toBeTruthy();
    const stream = await client.chat.completions.create({
      model: 'reasoning',
      messages: [{ role: 'user', content: 'x' }],
      max_tokens: 32,
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).not.toBe('');
    expect(h.records.map((r) => r.attempts.map((a) => `${a.endpoint}:${a.error ?? 'ok'}`))).toEqual([
      ['deepseek-r1:context_length', 'coder:ok'],
      ['deepseek-r1:context_length', 'coder:ok'],
    ]);
  });

  it('b6500 (before PR #16486): a 200 stream carrying an `error:` event → rerouted, not a stream error', async () => {
    h = await startHarness({
      sim: { 'deepseek-r1': { version: 'b6500' } },
      faults: { 'deepseek-r1': [{ kind: 'context-400' }] },
    });
    const direct = await fetch(`${h.sims['deepseek-r1']!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages, stream: true }),
    });
    expect(direct.status).toBe(200);
    expect(await direct.text()).toMatch(
      /^error: \{"error":\{"code":400,.*"type":"exceed_context_size_error"/,
    );
    const r = await streamChat(h.url, { model: 'reasoning', messages, max_tokens: 32 });
    expect({ status: r.status, endpoint: r.headers.get('x-llm-fleet-endpoint'), error: r.error }).toEqual({
      status: 200,
      endpoint: 'coder',
      error: undefined,
    });
    expect(h.records[0]?.attempts.map((a) => a.error ?? 'ok')).toEqual(['context_length', 'ok']);
    expect(h.gateway.context.breaker('deepseek-r1').snapshot(Date.now()).state).toBe('closed');
  });

  it('embeddings (llama-server --embeddings) overflow with exceed_context_size_error, read as context length', async () => {
    h = await startHarness({
      sim: { embeddings: { dialect: 'llamacpp', version: 'b6715' } },
      patch: (e) => (e.name === 'embeddings' ? { dialect: 'llamacpp' } : {}),
      faults: { embeddings: [{ kind: 'context-400' }] },
    });
    const direct = await wording(h.sims.embeddings!.url, '/v1/embeddings', { input: 'x' });
    expect(JSON.parse(direct)).toMatchObject({
      error: {
        code: 400,
        type: 'exceed_context_size_error',
        message: expect.stringMatching(/^input \(\d+ tokens\) is larger than the max context size/),
      },
    });
    const r = await postJson(h.url, '/v1/embeddings', { model: 'embedding', input: ['x'] });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'context_length_exceeded' });
  });
});

describe('TEI', () => {
  for (const [form, says] of [
    ['prompt', /^Input validation error: `inputs` must have less than \d+ tokens\. Given: \d+$/],
    ['chars', /^Input validation error: `inputs` must have less than \d+ characters\. Given: \d+$/],
  ] as const) {
    it(`TEI 1.8.0 ${form === 'chars' ? 'character' : 'token'} limit (422) is a context-length failure`, async () => {
      h = await startHarness({
        sim: { embeddings: { version: '1.8.0' } },
        faults: { embeddings: [{ kind: 'context-400', form }] },
      });
      const direct = JSON.parse(await wording(h.sims.embeddings!.url, '/v1/embeddings', { input: 'x' })) as {
        message: string;
      };
      expect(direct.message).toMatch(says);
      const r = await postJson(h.url, '/v1/embeddings', { model: 'embedding', input: ['x'] });
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({
        code: 'context_length_exceeded',
        message: expect.stringContaining(direct.message),
      });
      expect(h.gateway.context.breaker('embeddings').snapshot(Date.now()).state).toBe('closed');
    });
  }

  it('TEI 1.8.0 without auto-truncation refuses a real over-long input by its characters first', async () => {
    h = await startHarness({
      sim: { embeddings: { version: '1.8.0', contextWindowTokens: 8 } },
    });
    const text = await wording(h.sims.embeddings!.url, '/v1/embeddings', { input: 'y'.repeat(2_001) });
    expect(JSON.parse(text)).toMatchObject({
      message: 'Input validation error: `inputs` must have less than 2000 characters. Given: 2001',
      type: 'Validation',
    });
  });
});
