// Simulator modes that reproduce what real engines do to a client's measurements: several tokens
// per streamed event (speculative decoding, batched stream writes), and the other modes below.
import { afterEach, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { dataJson, post, timedStream } from './client.ts';

let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const fast = { prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 400 };

function tokenDeltas(text: string): string[] {
  return dataJson(text)
    .map((e) => (e.choices as { delta?: { content?: unknown }; text?: unknown }[] | undefined)?.[0])
    .map((c) => c?.delta?.content ?? c?.text)
    .filter((t): t is string => typeof t === 'string' && t !== '');
}

describe('tokensPerChunk: several tokens in one streamed event', () => {
  for (const dialect of ['vllm', 'llamacpp', 'mlx'] as const) {
    it(`${dialect}: the first token alone, then 4 per event; usage counts every token`, async () => {
      const s = await startSimEndpoint({ dialect, model: 'm', latency: fast, tokensPerChunk: 4 });
      servers.push(s);
      const body = {
        messages: [{ role: 'user', content: 'count in chunks' }],
        max_tokens: 21,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      };
      const res = await post(`${s.url}/v1/chat/completions`, body);
      const deltas = tokenDeltas(res.text);
      const usage = dataJson(res.text).find((e) => e.usage)?.usage as { completion_tokens: number };
      const [truth] = s.groundTruth();
      // mlx_lm ignores ignore_eos: its answer may end before max_tokens.
      const n = truth?.completionTokens ?? 0;
      expect(usage.completion_tokens).toBe(n);
      const whole = await post(`${s.url}/v1/chat/completions`, {
        ...body,
        stream: false,
        stream_options: undefined,
      });
      const message = (JSON.parse(whole.text) as { choices: { message: { content: string } }[] }).choices[0];
      expect(deltas.join('')).toBe(message?.message.content);
      // 1 + ceil((n − 1) / 4) events carry the n tokens.
      expect(deltas.length).toBe(1 + Math.ceil((n - 1) / 4));
      if (dialect !== 'mlx') expect(n).toBe(21);
      // Ground truth: each token's time is when the client could see it (its event's write).
      const times = truth?.tokenTimesMs ?? [];
      expect(times.length).toBe(n);
      expect(new Set(times).size).toBe(deltas.length);
    });
  }

  it('vLLM: a length finish rides on the last multi-token event; text completions group too', async () => {
    const s = await startSimEndpoint({ dialect: 'vllm', model: 'm', latency: fast, tokensPerChunk: 3 });
    servers.push(s);
    const chat = dataJson(
      (
        await post(`${s.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: 'x' }],
          max_tokens: 7,
          ignore_eos: true,
          stream: true,
        })
      ).text,
    );
    const finishes = chat.map(
      (e) => (e.choices as { finish_reason: unknown; delta: { content?: string } }[])[0],
    );
    expect(finishes.at(-1)?.finish_reason).toBe('length');
    expect(finishes.at(-1)?.delta.content).not.toBe('');
    const text = tokenDeltas(
      (await post(`${s.url}/v1/completions`, { prompt: 'x', max_tokens: 7, ignore_eos: true, stream: true }))
        .text,
    );
    expect(text.length).toBe(1 + Math.ceil(6 / 3));
  });

  it('events arrive at the decode cadence × tokensPerChunk (the rate is unchanged)', async () => {
    const s = await startSimEndpoint({
      dialect: 'llamacpp',
      model: 'm',
      latency: { ...fast, decodeTokensPerSecond: 100, decodeRateJitterP99Ratio: 1, itlJitterP99Ratio: 1 },
      tokensPerChunk: 5,
    });
    servers.push(s);
    const { events } = await timedStream(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'y' }],
      max_tokens: 31,
      ignore_eos: true,
      stream: true,
    });
    const tokenEvents = events.filter((e) => e.raw.includes('"content":"'));
    expect(tokenEvents.length).toBe(1 + 6);
    const gapsMs = tokenEvents.slice(2).map((e, k) => e.atMs - (tokenEvents[k + 1]?.atMs ?? 0));
    for (const gap of gapsMs) expect(gap).toBeGreaterThan(35);
    const spanMs = (tokenEvents.at(-1)?.atMs ?? 0) - (tokenEvents[0]?.atMs ?? 0);
    expect(30 / (spanMs / 1000)).toBeGreaterThan(80);
    expect(30 / (spanMs / 1000)).toBeLessThan(110);
  });

  it('a cut after N tokens still shows the client N tokens', async () => {
    const s = await startSimEndpoint({ dialect: 'vllm', model: 'm', latency: fast, tokensPerChunk: 4 });
    servers.push(s);
    const res = await post(
      `${s.url}/v1/chat/completions`,
      { messages: [{ role: 'user', content: 'z' }], max_tokens: 30, ignore_eos: true, stream: true },
      { 'x-sim-fault': 'cut:after=6' },
    );
    expect(res.error).toBeDefined();
    const [truth] = s.groundTruth();
    expect(truth?.completionTokens).toBe(6);
    expect(tokenDeltas(res.text).join('').length).toBeGreaterThan(0);
    expect(truth?.tokenTimesMs.length).toBe(6);
  });

  it('rejects a tokensPerChunk that is not a whole number ≥ 1', async () => {
    await expect(startSimEndpoint({ dialect: 'vllm', model: 'm', tokensPerChunk: 0 })).rejects.toThrow(
      /tokensPerChunk/,
    );
  });
});
