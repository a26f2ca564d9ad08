// Simulator modes that reproduce what real engines do to a client's measurements: several tokens
// per streamed event (speculative decoding, batched stream writes), and the other modes below.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { dataJson, get, post, timedStream } from './client.ts';

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
    // Ground truth: tokens grouped by write time [1, 5, 5, …]; their scheduled decode times keep
    // the 100 tok/s cadence (exact: no jitter), whatever this machine's load did to the writes.
    const [truth] = s.groundTruth();
    const writes = new Map<number, number>();
    for (const t of truth?.tokenTimesMs ?? []) writes.set(t, (writes.get(t) ?? 0) + 1);
    expect([...writes.values()]).toEqual([1, 5, 5, 5, 5, 5, 5]);
    const scheduled = (truth?.tokenTimesMs ?? []).map((t, i) => t - (truth?.tokenLatenessMs[i] ?? 0));
    const spanMs = (scheduled.at(-1) ?? 0) - (scheduled[0] ?? 0);
    expect(30 / (spanMs / 1000)).toBeCloseTo(100, 0);
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

describe('llama.cpp /slots and slot counts (tools/server/server-context.cpp)', () => {
  const slow = { prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 50, maxNumSeqs: 2 };
  const body = { messages: [{ role: 'user', content: 'hold a slot' }], max_tokens: 40, ignore_eos: true };

  async function untilDecoding(url: string): Promise<Record<string, unknown>[]> {
    for (let i = 0; i < 200; i++) {
      const slots = JSON.parse((await get(`${url}/slots`)).text) as Record<string, unknown>[];
      const busy = slots.find((s) => s.is_processing === true);
      const next = (busy?.next_token as { n_decoded: number }[] | undefined)?.[0];
      if (next !== undefined && next.n_decoded > 0) return slots;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no slot started decoding');
  }

  it('b6715: one slot per parallel sequence; a busy one shows its task, n_decoded and n_remain', async () => {
    const s = await startSimEndpoint({ dialect: 'llamacpp', model: 'm', version: 'b6715', latency: slow });
    servers.push(s);
    const running = post(`${s.url}/v1/chat/completions`, body);
    const slots = await untilDecoding(s.url);
    expect(slots).toHaveLength(2);
    const busy = slots.find((x) => x.is_processing === true) as Record<string, unknown>;
    const idle = slots.find((x) => x.is_processing === false) as Record<string, unknown>;
    expect(Object.keys(idle)).toEqual(['id', 'n_ctx', 'speculative', 'is_processing']);
    expect(busy.n_ctx).toBe(s.options.contextWindowTokens ?? 32_768);
    expect(typeof busy.id_task).toBe('number');
    const next = (busy.next_token as { n_decoded: number; n_remain: number; has_next_token: boolean }[])[0];
    expect(next?.has_next_token).toBe(true);
    expect((next?.n_decoded ?? 0) + (next?.n_remain ?? 0)).toBe(40);
    expect(String(busy.prompt)).toContain('hold a slot');
    // /health stays {"status":"ok"} in builds since b3590.
    expect((await get(`${s.url}/health`)).text).toBe('{"status":"ok"}');
    await running;
    const after = JSON.parse((await get(`${s.url}/slots`)).text) as Record<string, unknown>[];
    expect(after.every((x) => x.is_processing === false)).toBe(true);
    // An idle slot keeps showing the last task it ran, finished.
    const done = after.find((x) => x.id_task !== undefined);
    expect((done?.next_token as { n_decoded: number; has_next_token: boolean }[])[0]).toMatchObject({
      n_decoded: 40,
      has_next_token: false,
    });
  });

  it('?fail_on_no_slot (any value) is 503 "no slot available" only while every slot is busy', async () => {
    const s = await startSimEndpoint({
      dialect: 'llamacpp',
      model: 'm',
      latency: { ...slow, maxNumSeqs: 1 },
    });
    servers.push(s);
    expect((await get(`${s.url}/slots?fail_on_no_slot=0`)).status).toBe(200);
    const running = post(`${s.url}/v1/chat/completions`, body);
    await untilDecoding(s.url);
    const full = await get(`${s.url}/slots?fail_on_no_slot=0`);
    expect(full.status).toBe(503);
    expect(JSON.parse(full.text)).toEqual({
      error: { code: 503, message: 'no slot available', type: 'unavailable_error' },
    });
    expect((await get(`${s.url}/slots`)).status).toBe(200);
    await running;
  });

  it('--no-slots: /slots answers 501 not_supported_error', async () => {
    const s = await startSimEndpoint({ dialect: 'llamacpp', model: 'm', slotsEndpoint: false });
    servers.push(s);
    const res = await get(`${s.url}/slots`);
    expect(res.status).toBe(501);
    expect(JSON.parse(res.text)).toEqual({
      error: {
        code: 501,
        message: 'This server does not support slots endpoint. Start it with `--slots`',
        type: 'not_supported_error',
      },
    });
  });

  it('b3000 (before PR #9056): /health carries slots_idle and slots_processing; slots use `state`', async () => {
    const s = await startSimEndpoint({ dialect: 'llamacpp', model: 'm', version: 'b3000', latency: slow });
    servers.push(s);
    expect(JSON.parse((await get(`${s.url}/health`)).text)).toEqual({
      status: 'ok',
      slots_idle: 2,
      slots_processing: 0,
    });
    const running = post(`${s.url}/v1/chat/completions`, body);
    for (let i = 0; i < 200; i++) {
      const h = JSON.parse((await get(`${s.url}/health`)).text) as { slots_processing: number };
      if (h.slots_processing === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(JSON.parse((await get(`${s.url}/health`)).text)).toMatchObject({
      slots_idle: 1,
      slots_processing: 1,
    });
    const slots = JSON.parse((await get(`${s.url}/slots`)).text) as Record<string, unknown>[];
    expect(slots.map((x) => x.state).sort()).toEqual([0, 1]);
    await running;
  });
});

describe('servers that do not do what the client assumed', () => {
  it('ignoresForcedLength + a model that stops early: 7 tokens of 32 asked, finish stop', async () => {
    const s = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: fast,
      ignoresForcedLength: true,
      naturalAnswerTokens: 7,
    });
    servers.push(s);
    const res = await post(`${s.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'thirty-two please' }],
      max_tokens: 32,
      min_tokens: 32,
      ignore_eos: true,
    });
    const body = JSON.parse(res.text) as {
      choices: { finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    expect(body.usage.completion_tokens).toBe(7);
    expect(body.choices[0]?.finish_reason).toBe('stop');
    // The same model on a server that honours ignore_eos decodes all 32.
    const honest = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: fast,
      naturalAnswerTokens: 7,
    });
    servers.push(honest);
    const forced = JSON.parse(
      (
        await post(`${honest.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: 'thirty-two please' }],
          max_tokens: 32,
          ignore_eos: true,
        })
      ).text,
    ) as { usage: { completion_tokens: number } };
    expect(forced.usage.completion_tokens).toBe(32);
  });

  for (const dialect of ['vllm', 'llamacpp', 'mlx'] as const) {
    it(`${dialect} sendsUsage: false — no usage chunk even when asked, no usage in a whole body`, async () => {
      const s = await startSimEndpoint({ dialect, model: 'm', latency: fast, sendsUsage: false });
      servers.push(s);
      const messages = [{ role: 'user', content: 'no counts' }];
      const streamed = await post(`${s.url}/v1/chat/completions`, {
        messages,
        max_tokens: 5,
        stream: true,
        stream_options: { include_usage: true },
      });
      expect(dataJson(streamed.text).some((e) => e.usage !== undefined && e.usage !== null)).toBe(false);
      expect(streamed.text).toContain('[DONE]');
      const whole = await post(`${s.url}/v1/chat/completions`, { messages, max_tokens: 5 });
      expect(whole.status).toBe(200);
      expect(JSON.parse(whole.text)).not.toHaveProperty('usage');
      if (dialect === 'mlx') expect(whole.text).toMatch(/^\{"id": /);
    });
  }

  it('promptTokenRatio 1.7: usage.prompt_tokens and /tokenize agree with each other, not with our count', async () => {
    const plain = await startSimEndpoint({ dialect: 'vllm', model: 'm', latency: fast });
    const other = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: fast,
      promptTokenRatio: 1.7,
    });
    servers.push(plain, other);
    const messages = [{ role: 'user', content: 'the quick brown fox jumps over a lazy dog '.repeat(20) }];
    const usageOf = async (url: string): Promise<number> =>
      (
        JSON.parse((await post(`${url}/v1/chat/completions`, { messages, max_tokens: 1 })).text) as {
          usage: { prompt_tokens: number };
        }
      ).usage.prompt_tokens;
    const ours = await usageOf(plain.url);
    const theirs = await usageOf(other.url);
    expect(theirs).toBe(Math.round(ours * 1.7));
    const tokenized = JSON.parse((await post(`${other.url}/tokenize`, { model: 'm', messages })).text) as {
      count: number;
    };
    expect(tokenized.count).toBe(theirs);
  });

  it('vLLM ≥ 0.8: a reader that lags gets several tokens per event; every token still arrives', async () => {
    const s = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, prefillMsPerToken: 0, decodeTokensPerSecond: 20_000 },
    });
    servers.push(s);
    const body = JSON.stringify({
      messages: [{ role: 'user', content: 'flood' }],
      max_tokens: 20_000,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(s.port, '127.0.0.1', () => {
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        // Read nothing until the server has decoded every token (its ground truth records the
        // request when it ends): the socket buffers fill long before 20,000 events are written,
        // however slowly a loaded machine decodes, so the server must have seen the reader lag.
        socket.pause();
        const resumeWhenDecoded = (): void => {
          if (s.groundTruth().length > 0) socket.resume();
          else setTimeout(resumeWhenDecoded, 20);
        };
        resumeWhenDecoded();
      });
      socket.setEncoding('utf8');
      let out = '';
      socket.on('data', (d: string) => (out += d));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    const events = text.split('\n\n').filter((e) => e.includes('"content":"') && !e.includes('"role"'));
    const usage = /"completion_tokens":(\d+)/.exec(text);
    expect(Number(usage?.[1])).toBe(20_000);
    expect(events.length).toBeLessThan(20_000);
    const [truth] = s.groundTruth();
    expect(new Set(truth?.tokenTimesMs).size).toBeLessThan(20_000);
  });
});
