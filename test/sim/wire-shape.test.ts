// The simulator's streams have the same shape as the reference transcripts in test/fixtures/:
// same events in the same order, same keys in the same order, same JSON spacing, same role,
// finish and usage chunks, same comments and terminator (wire-formats.md §3.3, §4.4, §5.3).
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { SimEndpointOptions, SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { post, transcriptShape } from './client.ts';

const servers: SimServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function sim(options: Omit<SimEndpointOptions, 'model'> & { model?: string }): Promise<SimServer> {
  const s = await startSimEndpoint({ model: 'm', latency: { scale: 0.01 }, seed: 3, ...options });
  servers.push(s);
  return s;
}

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
}

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  messages: [{ role: 'user', content: 'Say hello.' }],
  stream: true,
  ...extra,
});

describe('stream shape matches the reference transcript', () => {
  it('vLLM 0.11, reasoning + include_usage: role chunk, reasoning_content, content, empty-content finish, usage with choices [], [DONE]', async () => {
    const s = await sim({ dialect: 'vllm', reasoning: true, version: '0.11.0' });
    const res = await post(`${s.url}/v1/chat/completions`, chat({ stream_options: { include_usage: true } }));
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('vllm-0.11-reasoning-usage.sse')));
  });

  it('vLLM: finish_reason length rides on the last token chunk; no usage chunk unless asked', async () => {
    const s = await sim({ dialect: 'vllm' });
    const res = await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 3 }));
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('vllm-0.11-length-on-last-token.sse')));
  });

  it('vLLM: an error after the stream started is a json.dumps-spaced error event, then [DONE]', async () => {
    const s = await sim({ dialect: 'vllm', faults: [{ kind: 'midstream-error', afterTokens: 1 }] });
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('vllm-midstream-error.sse')));
  });

  it('mlx_lm: keep-alive comments, role in every delta, role-only finish chunk, usage object chat.completion, [DONE]', async () => {
    const s = await sim({ dialect: 'mlx' });
    const res = await post(`${s.url}/v1/chat/completions`, chat({ stream_options: { include_usage: true } }));
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('mlx-keepalive-usage.sse')));
  });

  it('mlx_lm: an error mid-stream closes the socket with no event and no [DONE]', async () => {
    const s = await sim({ dialect: 'mlx', faults: [{ kind: 'midstream-error', afterTokens: 1 }] });
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.error).toBeDefined();
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('mlx-midstream-close.sse')));
  });

  it('llama.cpp, reasoning + include_usage: role chunk with content null, separate finish chunk delta {}, usage + timings, [DONE]', async () => {
    const s = await sim({ dialect: 'llamacpp', reasoning: true });
    const res = await post(`${s.url}/v1/chat/completions`, chat({ stream_options: { include_usage: true } }));
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('llamacpp-finish-chunk.sse')));
  });

  it('llama.cpp without include_usage: timings ride on the finish chunk', async () => {
    const s = await sim({ dialect: 'llamacpp' });
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(transcriptShape(res.text)).toEqual(
      transcriptShape(fixture('llamacpp-timings-on-finish-no-usage.sse')),
    );
  });

  it('llama.cpp: a later error is one data event and the stream ends without [DONE]', async () => {
    const s = await sim({ dialect: 'llamacpp', faults: [{ kind: 'midstream-error', afterTokens: 1 }] });
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(transcriptShape(res.text)).toEqual(transcriptShape(fixture('llamacpp-midstream-error.sse')));
  });
});

describe('details the shape does not show', () => {
  it('vLLM from 0.11.1 sends both reasoning keys, from 0.16 only `reasoning`', async () => {
    const both = await sim({ dialect: 'vllm', reasoning: true, version: '0.12.0' });
    const latest = await sim({ dialect: 'vllm', reasoning: true, version: '0.16.0' });
    const a = await post(`${both.url}/v1/chat/completions`, chat({ max_tokens: 2 }));
    const b = await post(`${latest.url}/v1/chat/completions`, chat({ max_tokens: 2 }));
    expect(a.text).toContain('"delta":{"reasoning":"Okay","reasoning_content":"Okay"}');
    expect(b.text).toContain('"delta":{"reasoning":"Okay"}');
    expect(b.text).not.toContain('reasoning_content');
  });

  it('the usage chunk counts exactly the streamed tokens, and /tokenize counts the prompt as usage does', async () => {
    for (const dialect of ['vllm', 'llamacpp'] as const) {
      const s = await sim({ dialect, reasoning: true });
      const messages = [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Count the tokens, please: 1234 apples!' },
      ];
      const res = await post(`${s.url}/v1/chat/completions`, {
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      const events = res.text.split('\n\n').filter((e) => e.startsWith('data: {'));
      const parsed = events.map(
        (e) =>
          JSON.parse(e.slice(6)) as {
            choices: { delta: Record<string, unknown> }[];
            usage?: Record<string, number>;
          },
      );
      const tokenChunks = parsed.filter((p) => {
        const d = p.choices[0]?.delta ?? {};
        return (typeof d.content === 'string' && d.content !== '') || typeof d.reasoning_content === 'string';
      });
      const usage = parsed.find((p) => p.usage)?.usage;
      expect(usage?.completion_tokens).toBe(tokenChunks.length);
      const tok = await post(
        `${s.url}/tokenize`,
        dialect === 'vllm' ? { messages } : { content: 'Count the tokens, please: 1234 apples!' },
      );
      const body = JSON.parse(tok.text) as { count?: number; tokens: number[] };
      if (dialect === 'vllm') expect(body.count).toBe(usage?.prompt_tokens);
      // llama.cpp tokenizes raw content; the chat template adds 5 per message + 3 for the reply.
      else expect(body.tokens.length + 3 + 5 + 5 + 3).toBe(usage?.prompt_tokens);
    }
  });
});
