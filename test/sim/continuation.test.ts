// Stream rescue by continuation: a fallback that shares the seed continues THE SAME answer from
// a partial assistant message where the real server can (vLLM continue_final_message, llama.cpp
// assistant prefill), and behaves as the real server does where it cannot (mlx_lm, TEI).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { expectedCompletion, startSimEndpoint } from '../../src/sim/index.ts';
import { dataJson, post } from './client.ts';

const SEED = 21;
const sims: Record<string, SimServer> = {};
beforeAll(async () => {
  const latency = { scale: 0.01 };
  sims.a = await startSimEndpoint({
    dialect: 'vllm',
    model: 'coder',
    seed: SEED,
    latency,
    faults: [{ kind: 'cut', afterTokens: 7 }],
  });
  sims.b = await startSimEndpoint({ dialect: 'vllm', model: 'coder-fast', seed: SEED, latency });
  sims.llama = await startSimEndpoint({ dialect: 'llamacpp', model: 'r1', seed: SEED, latency });
  sims.mlx = await startSimEndpoint({ dialect: 'mlx', model: 'small', seed: SEED, latency });
});
afterAll(async () => {
  await Promise.all(Object.values(sims).map((s) => s.close()));
});

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Describe the failover path.' },
];

function streamedContent(text: string): string {
  return dataJson(text)
    .map(
      (c) =>
        ((c.choices as { delta?: { content?: string | null } }[] | undefined)?.[0]?.delta?.content ??
          '') as string,
    )
    .join('');
}

describe('continuing a cut stream on another endpoint', () => {
  it('vLLM → vLLM: the partial answer plus the continuation is the uninterrupted answer', async () => {
    const full = expectedCompletion({ seed: SEED, messages }).content;
    const cut = await post(`${(sims.a as SimServer).url}/v1/chat/completions`, { messages, stream: true });
    expect(cut.error).toBeDefined();
    const partial = streamedContent(cut.text);
    expect(partial.length).toBeGreaterThan(0);
    expect(full.startsWith(partial)).toBe(true);
    const rest = await post(`${(sims.b as SimServer).url}/v1/chat/completions`, {
      messages: [...messages, { role: 'assistant', content: partial }],
      continue_final_message: true,
      add_generation_prompt: false,
      stream: true,
    });
    expect(partial + streamedContent(rest.text)).toBe(full);
  });

  it('llama.cpp continues a trailing assistant message (prefill), even cut mid-word', async () => {
    const full = expectedCompletion({ seed: SEED, messages }).content;
    const partial = full.slice(0, Math.floor(full.length / 2) + 1);
    const res = await post(`${(sims.llama as SimServer).url}/v1/chat/completions`, {
      messages: [...messages, { role: 'assistant', content: partial }],
    });
    const body = JSON.parse(res.text);
    expect(partial + body.choices[0].message.content).toBe(full);
  });

  it('vLLM rejects continue_final_message with the default add_generation_prompt, as the real server does', async () => {
    const res = await post(`${(sims.b as SimServer).url}/v1/chat/completions`, {
      messages: [...messages, { role: 'assistant', content: 'The' }],
      continue_final_message: true,
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.message).toBe(
      'Cannot set both `continue_final_message` and `add_generation_prompt` to True.',
    );
  });

  it('mlx_lm cannot continue: a trailing assistant message starts a new reply (the parameter is ignored)', async () => {
    const full = expectedCompletion({ seed: SEED, messages }).content;
    const partial = full.slice(0, 20);
    const res = await post(`${(sims.mlx as SimServer).url}/v1/chat/completions`, {
      messages: [...messages, { role: 'assistant', content: partial }],
      continue_final_message: true,
      add_generation_prompt: false,
    });
    const content = JSON.parse(res.text).choices[0].message.content as string;
    expect(partial + content).not.toBe(full);
  });

  it('a vLLM endpoint without the prefill flag treats the assistant message as history and answers anew', async () => {
    const full = expectedCompletion({ seed: SEED, messages }).content;
    const partial = full.slice(0, 20);
    const res = await post(`${(sims.b as SimServer).url}/v1/chat/completions`, {
      messages: [...messages, { role: 'assistant', content: partial }],
    });
    expect(partial + (JSON.parse(res.text).choices[0].message.content as string)).not.toBe(full);
  });
});
