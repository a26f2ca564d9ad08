// openStream against a simulated vLLM on loopback: events reach the sink in order, a sink that
// returns false pauses the upstream socket until resume(), detached events wait in the queue, and
// a stream cut mid-answer rejects `ended` instead of ending quietly.
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../fleet/index.ts';
import { startSimEndpoint, type SimServer } from '../sim/endpoint.ts';
import { openStream, UpstreamFailureError, type StreamEvent } from './call.ts';
import { UpstreamPools } from './pools.ts';

const env = { LLM_FLEET_LOOPBACK_ONLY: '1' };
let sim: SimServer | undefined;
let pools: UpstreamPools | undefined;
afterEach(async () => {
  await pools?.close();
  await sim?.close();
  sim = undefined;
  pools = undefined;
});

async function open(maxTokens: number, deadlines: Partial<Endpoint['timeouts']> = {}) {
  const endpoint = {
    name: 'sim',
    url: sim!.url,
    timeouts: {
      connectTimeoutMs: 5_000,
      ttftTimeoutMs: 10_000,
      idleTimeoutMs: 10_000,
      totalTimeoutMs: 60_000,
      ...deadlines,
    },
  } as Endpoint;
  pools = new UpstreamPools(env);
  return openStream({
    endpoint,
    target: pools.target(endpoint),
    path: '/v1/chat/completions',
    body: JSON.stringify({
      model: 'm',
      stream: true,
      max_tokens: maxTokens,
      ignore_eos: true,
      messages: [{ role: 'user', content: 'count' }],
    }),
    timeouts: endpoint.timeouts,
  });
}

/** Attach a sink collecting into `seen`; the failure `ended` rejects with (it must reject). */
async function failureOf(call: Awaited<ReturnType<typeof open>>, seen: StreamEvent[]) {
  call.attach((ev) => {
    seen.push(ev);
  });
  const error = await call.ended.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpstreamFailureError);
  return (error as UpstreamFailureError).failure;
}

const tokens = (events: StreamEvent[]): number =>
  events.filter((e) => e.chunk.kind === 'delta' && e.chunk.hasToken).length;

describe('openStream', () => {
  it('a sink that returns false pauses the upstream until resume(); nothing is lost or repeated', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 20_000, ttftJitterP99Ratio: 1 },
    });
    const total = 400;
    const call = await open(total);
    const seen: StreamEvent[] = [];
    call.attach((ev) => {
      seen.push(ev);
      return false;
    });
    // Unpaused, 400 tokens at 20k tok/s take 20 ms; paused, only what was already read arrives.
    await new Promise((r) => setTimeout(r, 400));
    const whilePaused = tokens(seen);
    expect(whilePaused).toBeLessThan(total);
    call.attach((ev) => {
      seen.push(ev);
    });
    call.resume();
    await call.ended;
    expect(tokens(seen)).toBe(total);
    expect(seen.at(-1)?.chunk.kind).toBe('done');
    const times = seen.map((e) => e.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('events that arrive while detached are queued and handed to the next sink in order', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 2_000, ttftJitterP99Ratio: 1 },
    });
    const call = await open(50);
    await new Promise((r) => setTimeout(r, 200));
    const seen: StreamEvent[] = [];
    call.attach((ev) => {
      seen.push(ev);
    });
    await call.ended;
    expect(tokens(seen)).toBe(50);
    expect(seen[0]?.chunk.kind).toBe('delta');
    expect(seen.at(-1)?.chunk.kind).toBe('done');
  });

  it('a stream cut mid-answer rejects ended with stream_cut, after the events before it', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 2_000, ttftJitterP99Ratio: 1 },
      faults: [{ kind: 'cut', afterTokens: 5 }],
    });
    const seen: StreamEvent[] = [];
    expect((await failureOf(await open(50), seen)).cause).toBe('stream_cut');
    expect(tokens(seen)).toBe(5);
  });
});

// The attempt's deadlines share one timer: each must still fire at its own time, whichever of the
// others is far off. Ten minutes stands for "never" here: a deadline that waited for another would
// hang the test past its timeout instead of failing quietly.
describe('openStream deadlines', () => {
  const NEVER = 600_000;

  it('idle: a stream that stalls after its first tokens ends at the idle deadline, not the TTFT one', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 2_000, ttftJitterP99Ratio: 1 },
      faults: [{ kind: 'stall', afterTokens: 3 }],
    });
    const call = await open(50, { ttftTimeoutMs: NEVER, idleTimeoutMs: 300, totalTimeoutMs: NEVER });
    const seen: StreamEvent[] = [];
    const failure = await failureOf(call, seen);
    expect(failure.cause).toBe('idle_timeout');
    expect(tokens(seen)).toBe(3);
    // Never early: the silence after the last token lasted the whole idle deadline.
    const lastTokenMs = seen.filter((e) => e.chunk.kind === 'delta' && e.chunk.hasToken).at(-1)!.atMs;
    expect(performance.now() - lastTokenMs).toBeGreaterThanOrEqual(300);
  });

  it('total: a stream still flowing ends at the total deadline', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 50, ttftJitterP99Ratio: 1 },
    });
    const call = await open(10_000, { ttftTimeoutMs: NEVER, idleTimeoutMs: NEVER, totalTimeoutMs: 400 });
    const failure = await failureOf(call, []);
    expect(failure.cause).toBe('total_timeout');
    expect(performance.now() - call.startedAtMs).toBeGreaterThanOrEqual(400);
  });

  it('ttft: a stream that never sends a token ends at the TTFT deadline', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      latency: { prefillOverheadMs: 1, decodeTokensPerSecond: 2_000, ttftJitterP99Ratio: 1 },
      faults: [{ kind: 'stall', afterTokens: 0 }],
    });
    const call = await open(50, { ttftTimeoutMs: 300, idleTimeoutMs: 100, totalTimeoutMs: NEVER });
    const seen: StreamEvent[] = [];
    const failure = await failureOf(call, seen);
    expect(failure.cause).toBe('ttft_timeout');
    expect(tokens(seen)).toBe(0);
    expect(performance.now() - call.startedAtMs).toBeGreaterThanOrEqual(300);
  });
});
