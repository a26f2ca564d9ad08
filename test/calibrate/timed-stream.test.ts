// timedStream decodes and resolves once per event-loop turn (the callbacks only stamp and queue).
// These check the paths where a result is built while pieces may still be queued — a stall that
// runs into the deadline, a socket cut mid-stream — and that both ways of decoding (per turn, in
// the callback) report the same stream, against the simulator on a real port.
import { afterEach, describe, expect, it } from 'vitest';
import { chatBody, httpTarget, timedStream } from '../../src/calibrate/index.ts';
import type { SimServer } from '../../src/sim/index.ts';
import { parseFaults, startSimEndpoint } from '../../src/sim/index.ts';

let sim: SimServer | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const LATENCY = {
  prefillOverheadMs: 5,
  prefillMsPerToken: 0,
  decodeTokensPerSecond: 2000,
  ttftJitterP99Ratio: 1,
};

async function both(faults: string, timeoutMs: number) {
  sim = await startSimEndpoint({
    dialect: 'vllm',
    model: 'm',
    latency: LATENCY,
    faults: parseFaults(faults),
  });
  const target = httpTarget(sim.url, { connections: 1 });
  try {
    const out = [];
    for (const decodeInCallback of [false, true]) {
      const id = `ts-${decodeInCallback ? 'cb' : 'turn'}`;
      const t = await timedStream(
        target,
        '/v1/chat/completions',
        chatBody({ model: 'm', promptTokens: 32, maxTokens: 12 }, 'vllm', id),
        timeoutMs,
        id,
        { decodeInCallback },
      );
      const truth = sim.groundTruth().find((r) => r.clientRequestId === id);
      out.push({ t, truth });
    }
    return out;
  } finally {
    await target.close();
  }
}

describe('timedStream: results built after the turn keep every queued piece', () => {
  it('a whole stream: both ways report the same tokens, never before the server wrote them', async () => {
    for (const { t, truth } of await both('', 30_000)) {
      expect(t.ok).toBe(true);
      expect(t.tokenTimesMs).toHaveLength(12);
      expect(t.completionTokens).toBe(12);
      expect(t.ttftMs as number).toBeGreaterThanOrEqual(truth?.ttftMs as number);
    }
  });

  it('a stall that runs into the deadline: a cut stream with the tokens received before it', async () => {
    for (const { t, truth } of await both('stall:after=3', 1_500)) {
      expect(t.ok).toBe(false);
      expect(t.failure).toBe('stream_cut');
      expect(t.errorMessage).toContain('within 1500 ms');
      expect(t.tokenTimesMs).toHaveLength(truth?.tokenTimesMs.length as number);
      expect(t.tokenTimesMs.length).toBeGreaterThan(0);
    }
  });

  it('a socket cut mid-stream: the tokens before the cut are counted', async () => {
    for (const { t, truth } of await both('cut:after=4', 30_000)) {
      expect(t.ok).toBe(false);
      expect(t.failure).toBe('stream_cut');
      expect(t.tokenTimesMs).toHaveLength(truth?.tokenTimesMs.length as number);
      expect(t.tokenTimesMs.length).toBeGreaterThan(0);
      expect(t.ttftMs as number).toBeGreaterThanOrEqual(truth?.ttftMs as number);
    }
  });
});
