// One address, several models (vLLM 0.11.0 with a LoRA adapter, mlx_lm 0.31.2 loading a second
// repo by name): the fleet file lists them under the endpoint's `models`, a request naming one goes
// there with that id, and /v1/models lists every name the gateway accepts as `model`.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    sim: {
      'coder-fast': { version: '0.11.0', models: ['sql-lora'] },
      small: { version: '0.31.2', models: ['mlx-community/Qwen3-4B-4bit'] },
    },
    patch: (e) =>
      e.name === 'coder-fast'
        ? { servedModels: [e.servedModel, 'sql-lora'] }
        : e.name === 'small'
          ? { servedModels: [e.servedModel, 'mlx-community/Qwen3-4B-4bit'] }
          : {},
  });
});
afterAll(async () => {
  await h.close();
});

const client = (): OpenAI => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
const ask = [{ role: 'user' as const, content: 'which model are you?' }];

describe('an endpoint that serves several models', () => {
  it('a LoRA adapter id routes to its vLLM endpoint and is sent upstream as that id', async () => {
    const { data, response } = await client()
      .chat.completions.create({ model: 'sql-lora', messages: ask, max_tokens: 8 })
      .withResponse();
    expect(data.model).toBe('sql-lora');
    expect(response.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
    expect(response.headers.get('x-llm-fleet-model')).toBe('sql-lora');
  });

  it('a second mlx_lm repo, streamed', async () => {
    const stream = await client().chat.completions.create({
      model: 'mlx-community/Qwen3-4B-4bit',
      messages: ask,
      max_tokens: 8,
      stream: true,
    });
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual(['mlx-community/Qwen3-4B-4bit']);
  });

  it('a fallback does not get the adapter id: it serves its own model', async () => {
    h.setFaults('coder-fast', [{ kind: 'down' }]);
    try {
      const { data, response } = await client()
        .chat.completions.create({ model: 'sql-lora', messages: ask, max_tokens: 8 })
        .withResponse();
      expect(response.headers.get('x-llm-fleet-endpoint')).toBe('coder');
      expect(data.model).toBe(h.fleet.endpoints.find((e) => e.name === 'coder')?.servedModel);
    } finally {
      h.setFaults('coder-fast', []);
    }
  });

  it('/v1/models lists every name accepted as model: ids, endpoint names, inventory names, routes, aliases', async () => {
    const list = await client().models.list();
    const ids = list.data.map((m) => m.id);
    for (const id of [
      'sql-lora',
      'Qwen3-14B-AWQ',
      'coder-fast',
      'coder',
      'mlx-community/Qwen3-4B-4bit',
      'small',
      'embeddings',
      'LLM_CODER_URL',
      'auto',
      'reasoning',
      'routing',
      'code-review',
    ])
      expect(ids, id).toContain(id);
    expect(new Set(ids).size).toBe(ids.length);
    // Every listed name is accepted: none answers 404.
    for (const m of list.data.filter((x) => (x as { kind?: string }).kind === 'chat')) {
      const r = await fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: m.id, messages: ask, max_tokens: 2 }),
      });
      expect(r.status, m.id).toBe(200);
      await r.text();
    }
  });
});
