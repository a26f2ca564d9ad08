// Every fault in the list, observed from the client side over real loopback HTTP.
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec, SimEndpointOptions, SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { agent, dataJson, get, post, splitEvents, timedStream } from './client.ts';

let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function sim(faults: FaultSpec[] = [], options: Partial<SimEndpointOptions> = {}): Promise<SimServer> {
  const s = await startSimEndpoint({
    dialect: 'vllm',
    model: 'm',
    seed: 5,
    latency: { scale: 0.01 },
    faults,
    ...options,
  });
  servers.push(s);
  return s;
}

const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  messages: [{ role: 'user', content: 'Tell me about faults.' }],
  stream: true,
  max_tokens: 20,
  ...extra,
});

/** The status, or the error code when no HTTP response came back. */
async function attempt(
  url: string,
  timeoutMs = 5_000,
): Promise<{ status?: number; code?: string; body?: string }> {
  try {
    const res = await request(url, {
      method: 'GET',
      dispatcher: agent,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.statusCode, body: await res.body.text() };
  } catch (error) {
    const e = error as { code?: string; name?: string; cause?: { code?: string } };
    return { code: e.code ?? e.cause?.code ?? e.name };
  }
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('endpoint faults', () => {
  it('down refuses connections; clearing it reopens the same port', async () => {
    const s = await sim();
    expect((await attempt(`${s.url}/health`)).status).toBe(200);
    s.setFaults([{ kind: 'down' }]);
    expect(
      (
        await until(
          () => attempt(`${s.url}/health`),
          (r) => r.code === 'ECONNREFUSED',
        )
      ).code,
    ).toBe('ECONNREFUSED');
    s.setFaults([]);
    expect(
      (
        await until(
          () => attempt(`${s.url}/health`),
          (r) => r.status === 200,
        )
      ).status,
    ).toBe(200);
  });

  it('going down drops streams in flight; their ground truth says server-closed', async () => {
    const s = await sim([], {
      latency: { scale: 1, prefillOverheadMs: 1, prefillMsPerToken: 0, decodeTokensPerSecond: 50 },
    });
    const pending = post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 200, ignore_eos: true }));
    // Wait until the stream is running (the metrics say so), then take the endpoint down.
    await until(
      async () => (await get(`${s.url}/metrics`)).text,
      (text) => text.includes('vllm:num_requests_running{engine="0",model_name="m"} 1'),
    );
    s.setFaults([{ kind: 'down' }]);
    const res = await pending;
    expect(res.error).toBeDefined();
    expect(s.groundTruth()[0]).toMatchObject({ outcome: 'server-closed' });
  });

  it('down for a while comes back by itself', async () => {
    const s = await sim([{ kind: 'down', downMs: 300 }]);
    expect(
      (
        await until(
          () => attempt(`${s.url}/health`),
          (r) => r.code === 'ECONNREFUSED',
        )
      ).code,
    ).toBe('ECONNREFUSED');
    expect(
      (
        await until(
          () => attempt(`${s.url}/health`),
          (r) => r.status === 200,
        )
      ).status,
    ).toBe(200);
  });

  it('flapping alternates refused and up on the same port', async () => {
    const s = await sim([{ kind: 'flap', downMs: 250, periodMs: 500 }]);
    const seen = new Set<string>();
    await until(
      async () => {
        const r = await attempt(`${s.url}/health`);
        seen.add(r.status === 200 ? 'up' : (r.code ?? 'other'));
        return seen;
      },
      (v) => v.has('up') && v.has('ECONNREFUSED'),
    );
    // A request caught in flight at the moment the listener goes down is reset, as on a real server.
    expect([...seen].filter((state) => !['ECONNREFUSED', 'ECONNRESET', 'up'].includes(state))).toEqual([]);
    expect(s.port).toBeGreaterThan(0);
  });

  it('dead engine: vLLM /health 503 and requests 500, both with empty bodies', async () => {
    const s = await sim([{ kind: 'dead' }]);
    const health = await attempt(`${s.url}/health`);
    expect(health).toMatchObject({ status: 503, body: '' });
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res).toMatchObject({ status: 500, text: '' });
  });
});

describe('request faults before the first byte', () => {
  it.each([
    [500, undefined],
    [503, undefined],
    [503, 7],
    [429, 3],
  ] as const)('http %i with Retry-After %s in the dialect error shape', async (status, retryAfterSeconds) => {
    const s = await sim([{ kind: `http-${status}`, retryAfterSeconds }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.status).toBe(status);
    expect(res.headers['retry-after']).toBe(
      retryAfterSeconds === undefined ? undefined : String(retryAfterSeconds),
    );
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: status, param: null } });
  });

  it('reset: the connection is reset before any header', async () => {
    const s = await sim([{ kind: 'reset' }]);
    await expect(post(`${s.url}/v1/chat/completions`, chat())).rejects.toMatchObject({
      code: expect.stringMatching(/ECONNRESET|UND_ERR_SOCKET/),
    });
  });

  it('hang: accepted, never answered (the client times out)', async () => {
    const s = await sim([{ kind: 'hang' }]);
    const started = Date.now();
    const r = await request(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat()),
      dispatcher: agent,
      signal: AbortSignal.timeout(400),
    }).catch((e: unknown) => e as Error);
    expect(r).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it('context-400: the dialect context-length error', async () => {
    const s = await sim([{ kind: 'context-400' }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/maximum context length/);
  });

  it('first K requests only, then healthy; fraction hits about that share (seeded)', async () => {
    const s = await sim([{ kind: 'http-503', firstRequests: 2 }]);
    const statuses = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await post(`${s.url}/v1/chat/completions`, chat({ stream: false }))).status);
    expect(statuses).toEqual([503, 503, 200, 200]);
    s.setFaults([{ kind: 'http-500', fraction: 0.5 }]);
    let hits = 0;
    for (let i = 0; i < 40; i++)
      if ((await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 1 }))).status === 500) hits++;
    expect(hits).toBeGreaterThan(8);
    expect(hits).toBeLessThan(32);
  });

  it('x-sim-fault header faults one request; POST /admin/faults sets faults at run time', async () => {
    const s = await sim();
    const one = await post(`${s.url}/v1/chat/completions`, chat(), { 'x-sim-fault': '429:retry-after=1' });
    expect(one.status).toBe(429);
    expect((await post(`${s.url}/v1/chat/completions`, chat())).status).toBe(200);
    const set = await post(`${s.url}/admin/faults`, '503:first=1');
    expect(set.status).toBe(200);
    expect(s.faults()).toEqual([{ kind: 'http-503', firstRequests: 1 }]);
    expect((await post(`${s.url}/v1/chat/completions`, chat())).status).toBe(503);
    expect((await post(`${s.url}/v1/chat/completions`, chat())).status).toBe(200);
    expect((await post(`${s.url}/admin/faults`, { faults: ['bogus'] })).status).toBe(400);
  });

  it('scope=all also hits health checks', async () => {
    const s = await sim([{ kind: 'http-503', scope: 'all' }]);
    expect((await get(`${s.url}/health`)).status).toBe(503);
  });
});

describe('stream faults', () => {
  const tokenEvents = (text: string): number =>
    dataJson(text).filter((c) => {
      const d = (c.choices as { delta?: { content?: string } }[] | undefined)?.[0]?.delta;
      return typeof d?.content === 'string' && d.content !== '';
    }).length;

  it('slow first token: the server-side TTFT includes the delay', async () => {
    const s = await sim([{ kind: 'slow-first-token', delayMs: 300 }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.text).toContain('data: [DONE]');
    expect(s.groundTruth()[0]?.ttftMs).toBeGreaterThanOrEqual(300);
  });

  it('cut after N tokens: N tokens, then the connection drops without terminator', async () => {
    const s = await sim([{ kind: 'cut', afterTokens: 5 }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.error).toBeDefined();
    expect(tokenEvents(res.text)).toBe(5);
    expect(res.text).not.toContain('[DONE]');
    expect(s.groundTruth()[0]).toMatchObject({ outcome: 'fault', fault: 'cut', completionTokens: 5 });
  });

  it('stall after N tokens: silent but open until the client gives up', async () => {
    const s = await sim([{ kind: 'stall', afterTokens: 3 }]);
    const started = Date.now();
    const r = await request(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat()),
      dispatcher: agent,
      signal: AbortSignal.timeout(600),
    });
    let text = '';
    const error = await (async () => {
      for await (const c of r.body) text += (c as Buffer).toString();
    })().catch((e: unknown) => e);
    expect(error).toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(tokenEvents(text)).toBe(3);
  });

  it('stall with a delay: the stream resumes and completes', async () => {
    const s = await sim([{ kind: 'stall', afterTokens: 3, delayMs: 200 }]);
    const res = await timedStream(`${s.url}/v1/chat/completions`, chat());
    // The pause is where the server wrote it: its own write times (a busy client would stamp the
    // tokens before the pause late, shrinking the gap it sees, so the client's gaps prove nothing).
    const truth = s.groundTruth()[0];
    expect(truth).toMatchObject({
      status: 200,
      fault: 'stall',
      finishReason: 'length',
      completionTokens: 20,
    });
    const written = truth?.tokenTimesMs ?? [];
    expect(written).toHaveLength(20);
    expect((written[3] as number) - (written[2] as number)).toBeGreaterThanOrEqual(200);
    // The client saw the whole stream, resumed after the pause: every token, then [DONE], which the
    // server wrote no sooner than 200 ms after the request (a lower bound a slow client only raises).
    const text = res.events.map((e) => `${e.raw}\n\n`).join('');
    expect(tokenEvents(text)).toBe(20);
    expect(res.events.at(-1)?.raw).toBe('data: [DONE]');
    expect((res.events.at(-1)?.atMs as number) - res.startMs).toBeGreaterThanOrEqual(200);
  });

  it('malformed chunk: one data event is not JSON, the stream goes on to [DONE]', async () => {
    const s = await sim([{ kind: 'malformed', afterTokens: 2 }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    const bad = splitEvents(res.text).filter((e) => {
      if (!e.startsWith('data: {')) return false;
      try {
        JSON.parse(e.slice(6));
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toHaveLength(1);
    expect(res.text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('missing [DONE]: the stream ends cleanly without the terminator', async () => {
    const s = await sim([{ kind: 'no-done' }]);
    const res = await post(`${s.url}/v1/chat/completions`, chat());
    expect(res.error).toBeUndefined();
    expect(res.text).toContain('"finish_reason":"length"');
    expect(res.text).not.toContain('[DONE]');
  });

  it('slow decode: a fast first token, then tokens at the slow rate', async () => {
    const s = await sim([{ kind: 'slow-decode', afterTokens: 2, tokensPerSecond: 20 }], {
      latency: { scale: 1, prefillOverheadMs: 5, prefillMsPerToken: 0, decodeTokensPerSecond: 1000 },
    });
    await post(`${s.url}/v1/chat/completions`, chat({ max_tokens: 5 }));
    const truth = s.groundTruth()[0];
    // Scheduled times (actual write − the simulator's own lateness): exact, whatever the machine load.
    const scheduled = (truth?.tokenTimesMs ?? []).map((t, i) => t - (truth?.tokenLatenessMs[i] ?? 0));
    expect(scheduled).toHaveLength(5);
    // From the second token on, gaps follow 20 tok/s = 50 ms; the first gap is the fast decode (1 ms).
    expect((scheduled[1] as number) - (scheduled[0] as number)).toBeLessThan(5);
    for (let i = 2; i < scheduled.length; i++) {
      expect((scheduled[i] as number) - (scheduled[i - 1] as number)).toBeCloseTo(50, 2);
    }
  });

  it('llama.cpp with sse_ping_interval: a stalled stream keeps sending `:` comments and no data', async () => {
    const s = await sim([{ kind: 'stall', afterTokens: 2 }], { dialect: 'llamacpp', ssePingIntervalMs: 50 });
    const r = await request(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat()),
      dispatcher: agent,
      signal: AbortSignal.timeout(500),
    });
    let text = '';
    await (async () => {
      for await (const c of r.body) text += (c as Buffer).toString();
    })().catch(() => undefined);
    const events = splitEvents(text);
    expect(events.filter((e) => e.startsWith('data: ')).length).toBe(3);
    expect(events.filter((e) => e === ':').length).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)).toBe(':');
  });
});
