// The simulator continues a reasoning answer as the real servers do (src/sim/reasoning-split.ts):
// llama.cpp b6715 refuses a prefill with thinking on and, with thinking off, returns everything as
// content; vLLM's qwen3 and deepseek_r1 parsers mislabel a continuation before v0.17.0. Also the
// running counts (vLLM continuous_usage_stats, llama.cpp timings_per_token) and mlx_lm 0.16.0's
// streams without usage.
import { afterEach, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import type { SimEndpointOptions } from '../../src/sim/endpoint.ts';
import { simAnswer } from '../../src/sim/generator.ts';
import { chatAnswerKey } from '../../src/sim/prompt.ts';
import { dataJson, post } from './client.ts';

const SEED = 5;
let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
const start = async (options: Omit<SimEndpointOptions, 'model' | 'seed'>): Promise<SimServer> => {
  const s = await startSimEndpoint({ model: 'm', seed: SEED, latency: { scale: 0.01 }, ...options });
  servers.push(s);
  return s;
};

const messages = [{ role: 'user', content: 'reason about it' }];
const answer = simAnswer(SEED, chatAnswerKey(messages), true);
const reasoningSoFar = answer.reasoning.slice(0, 6).join('');
const insideReasoning = [...messages, { role: 'assistant', content: `<think>\n${reasoningSoFar}` }];
const afterReasoning = [
  ...messages,
  {
    role: 'assistant',
    content: `<think>\n${answer.reasoning.join('')}\n</think>\n\n${answer.contentToken(0)}`,
  },
];

/** Text per field of a streamed answer. */
function fields(text: string): { reasoning: string; content: string } {
  let reasoning = '';
  let content = '';
  for (const e of dataJson(text)) {
    const delta = (e.choices as { delta?: Record<string, unknown> }[] | undefined)?.[0]?.delta ?? {};
    if (typeof delta.content === 'string') content += delta.content;
    const r = delta.reasoning_content ?? delta.reasoning;
    if (typeof r === 'string') reasoning += r;
  }
  return { reasoning, content };
}

describe('llama.cpp b6715 with a thinking template (--reasoning)', () => {
  it('refuses an assistant prefill with thinking on: 400 invalid_request_error', async () => {
    const s = await start({ dialect: 'llamacpp', reasoning: true });
    const res = await post(`${s.url}/v1/chat/completions`, { messages: insideReasoning, stream: true });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({
      error: {
        code: 400,
        message: 'Assistant response prefill is incompatible with enable_thinking.',
        type: 'invalid_request_error',
      },
    });
  });

  it('with thinking off, continues the prefill but returns it all as content, </think> included', async () => {
    const s = await start({ dialect: 'llamacpp', reasoning: true });
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages: insideReasoning,
      stream: true,
      chat_template_kwargs: { enable_thinking: false },
    });
    expect(res.status).toBe(200);
    const { reasoning, content } = fields(res.text);
    expect(reasoning).toBe('');
    const rest = answer.reasoning.slice(6).join('');
    expect(content.startsWith(`${rest}</think>${answer.contentToken(0)}`)).toBe(true);
  });

  it('timings_per_token: running counts on every token chunk', async () => {
    const s = await start({ dialect: 'llamacpp', tokensPerChunk: 3 });
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages,
      max_tokens: 10,
      stream: true,
      timings_per_token: true,
    });
    const counts = dataJson(res.text)
      .filter((e) => (e.choices as unknown[]).length > 0 && e.timings)
      .map((e) => (e.timings as { predicted_n: number }).predicted_n);
    expect(counts.slice(0, 3)).toEqual([1, 4, 7]);
    expect(counts.at(-1)).toBe(10);
  });
});

describe('vLLM reasoning parsers, continuing a final assistant message', () => {
  const continued = async (
    parser: 'qwen3' | 'deepseek_r1',
    version: string,
    prefill: typeof insideReasoning,
  ): Promise<{ reasoning: string; content: string }> => {
    const s = await start({ dialect: 'vllm', reasoning: true, reasoningParser: parser, version });
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages: prefill,
      stream: true,
      continue_final_message: true,
      add_generation_prompt: false,
    });
    expect(res.status).toBe(200);
    return fields(res.text);
  };

  it('qwen3 v0.11.0: no <think> generated, so the rest of the reasoning comes as content with its </think>', async () => {
    const { reasoning, content } = await continued('qwen3', '0.11.0', insideReasoning);
    expect(reasoning).toBe('');
    expect(content).toContain('</think>');
  });

  it('qwen3 v0.17.0: reasoning until </think>, content after', async () => {
    const { reasoning, content } = await continued('qwen3', '0.17.0', insideReasoning);
    expect(reasoning).toBe(answer.reasoning.slice(6).join(''));
    expect(content).not.toContain('</think>');
  });

  it('deepseek_r1 v0.11.0: a continuation of the content (its </think> in the prompt) streams as reasoning', async () => {
    const { reasoning, content } = await continued('deepseek_r1', '0.11.0', afterReasoning);
    expect(content).toBe('');
    expect(reasoning.startsWith(answer.contentToken(1))).toBe(true);
  });

  it('deepseek_r1 v0.17.0: the prompt already ended the reasoning, so it is content', async () => {
    const { reasoning, content } = await continued('deepseek_r1', '0.17.0', afterReasoning);
    expect(reasoning).toBe('');
    expect(content.startsWith(answer.contentToken(1))).toBe(true);
  });

  it('continuous_usage_stats: usage with the running completion count on every chunk', async () => {
    const s = await start({ dialect: 'vllm', tokensPerChunk: 4 });
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages,
      max_tokens: 9,
      stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true },
    });
    const counts = dataJson(res.text)
      .filter((e) => (e.choices as unknown[]).length > 0)
      .map((e) => (e.usage as { completion_tokens: number } | undefined)?.completion_tokens);
    // Role chunk 0, the first token alone, then 4 at a time.
    expect(counts.slice(0, 4)).toEqual([0, 1, 5, 9]);
  });
});

describe('mlx_lm usage (server.py handle_completion)', () => {
  it('counts the EOS that ended the answer, which it never sends', async () => {
    const s = await start({ dialect: 'mlx' });
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages,
      max_tokens: 2_000,
      stream: true,
      stream_options: { include_usage: true },
    });
    const truth = s.groundTruth().at(-1);
    expect(truth?.finishReason).toBe('stop');
    const usage = dataJson(res.text).find((e) => e.usage)?.usage as { completion_tokens: number };
    expect(usage.completion_tokens).toBe((truth?.completionTokens ?? 0) + 1);
  });
});

describe('mlx_lm before stream_options (0.16.0, mlx-examples PR #913)', () => {
  it('streams no usage even when asked; a non-streaming answer has it', async () => {
    const s = await start({ dialect: 'mlx', version: '0.16.0' });
    const streamed = await post(`${s.url}/v1/chat/completions`, {
      messages,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(dataJson(streamed.text).some((e) => e.usage !== undefined)).toBe(false);
    const whole = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 8 });
    expect((JSON.parse(whole.text) as { usage?: unknown }).usage).toBeDefined();
  });
});
