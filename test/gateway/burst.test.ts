// One definition of burst: the gateway's record and calibrate's stream timer give the same decode
// and burst figures for the same token arrival times, and a simulated endpoint decoding at a fixed
// rate is recorded — and judged by the SLO events — at that rate, not at its answer's length.
import { afterEach, describe, expect, it } from 'vitest';
import { RequestTrace } from '../../src/gateway/trace.ts';
import { StreamTimer } from '../../src/measure/stream-timer.ts';
import { streamRates } from '../../src/measure/token-rates.ts';
import type { Harness } from './harness.ts';
import { startHarness, streamChat } from './harness.ts';

interface Stream {
  /** Arrival time (ms) of each token-bearing event and the tokens it carries. */
  readonly events: readonly { atMs: number; tokens: number }[];
  /** usage.completion_tokens, or undefined when the server sends none. */
  readonly usage?: number;
}

function evenly(count: number, tokensPerSecond: number, startMs = 100): { atMs: number; tokens: number }[] {
  return Array.from({ length: count }, (_, i) => ({
    atMs: startMs + (i * 1000) / tokensPerSecond,
    tokens: 1,
  }));
}

/** The gateway path: the times and usage as generate.ts hands them to the request's trace. */
function throughGateway(s: Stream): { decode?: number; burst?: number; completion?: number } {
  const trace = new RequestTrace('r1', 'chat', 0, 0);
  trace.stream = true;
  for (const e of s.events) trace.tokenTimes.push(e.atMs);
  trace.tokenChunks = s.events.length;
  trace.completionTokens = s.usage;
  const last = s.events.at(-1)?.atMs ?? 0;
  const { record } = trace.finish({ outcome: 'ok', status: 200, endpoint: 'e', endMono: last + 1 });
  return {
    decode: record.decodeTokensPerSecond,
    burst: record.burstTokensPerSecond,
    completion: record.completionTokens,
  };
}

/** The calibrate / bench path: the same stream as SSE bytes through the stream timer. */
function throughCalibrate(s: Stream): { decode?: number; burst?: number; completion?: number } {
  const timer = new StreamTimer(0);
  timer.headers(200, 1);
  for (const e of s.events) {
    const delta = JSON.stringify({ choices: [{ index: 0, delta: { content: 'tok'.repeat(e.tokens) } }] });
    timer.data(`data: ${delta}\n\n`, e.atMs);
  }
  const last = s.events.at(-1)?.atMs ?? 0;
  if (s.usage !== undefined)
    timer.data(`data: ${JSON.stringify({ choices: [], usage: { completion_tokens: s.usage } })}\n\n`, last);
  timer.data('data: [DONE]\n\n', last + 1);
  const t = timer.end(last + 1);
  return { decode: t.decodeTokensPerSecond, burst: t.burstTokensPerSecond, completion: t.completionTokens };
}

describe('the gateway and calibrate agree on decode and burst for the same stream', () => {
  const fastPatch = [...evenly(100, 100, 0), ...evenly(200, 200, 1000), ...evenly(100, 100, 2000)];
  const cases: [string, Stream, number][] = [
    // The case: 20 tokens at 82 tok/s is "burst 82", not "burst 20".
    ['a 20-token answer at 82 tok/s (shorter than a second)', { events: evenly(20, 82), usage: 20 }, 82],
    ['three seconds with a one-second patch at 200 tok/s', { events: fastPatch, usage: 400 }, 200],
    [
      '4 tokens per event at 120 tok/s, counted by usage',
      { events: evenly(60, 30).map((e) => ({ ...e, tokens: 4 })), usage: 240 },
      120,
    ],
    ['no usage: events counted (flagged chunks)', { events: evenly(50, 40) }, 40],
  ];
  for (const [name, stream, expected] of cases) {
    it(name, () => {
      const gateway = throughGateway(stream);
      const calibrate = throughCalibrate(stream);
      expect(gateway).toEqual(calibrate);
      expect(gateway.burst).toBeCloseTo(expected, 0);
    });
  }
});

describe('a fixed-rate simulated endpoint, through a real gateway', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('is recorded at its decode rate, and the burst SLO event judges that rate', async () => {
    // 200 tok/s with no jitter, above coder-fast's 120 tok/s burst floor; 100 tokens take ~0.5 s (the
    // old count-in-a-window figure would be 100: under the floor).
    h = await startHarness({
      latency: {
        scale: 1,
        prefillOverheadMs: 5,
        prefillMsPerToken: 0,
        decodeTokensPerSecond: 200,
        decodeRateJitterP99Ratio: 1,
        itlJitterP99Ratio: 1,
      },
    });
    const res = await streamChat(h.url, {
      model: 'coder-fast',
      messages: [{ role: 'user', content: 'a hundred tokens, please' }],
      max_tokens: 100,
      ignore_eos: true,
    });
    expect(res.status).toBe(200);
    const record = h.records.at(-1);
    expect(record?.completionTokens).toBe(100);
    // The simulator's ground truth: it scheduled the tokens at 200 tok/s exactly, and wrote them
    // at the rate `delivered` (a loaded machine writes late, bunched). The gateway, on the same
    // event loop, must record the rate that was delivered — not 100, the answer's length.
    const truth = h.sims['coder-fast']?.groundTruth().at(-1);
    const written = truth?.tokenTimesMs ?? [];
    expect(written).toHaveLength(100);
    const scheduled = written.map((t, i) => t - (truth?.tokenLatenessMs[i] ?? 0));
    expect(99 / (((scheduled.at(-1) as number) - (scheduled[0] as number)) / 1000)).toBeCloseTo(200, 0);
    const delivered = streamRates(written, 100).burstTokensPerSecond as number;
    const recorded = record?.burstTokensPerSecond as number;
    expect(recorded / delivered).toBeGreaterThan(0.8);
    expect(recorded / delivered).toBeLessThan(1.25);
    // The SLO event judges the recorded rate against coder-fast's burst floor (120 tok/s).
    const outcome = recorded >= 120 ? 'good' : 'bad';
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain(
      `llm_slo_events_total{slo="coder-fast-throughput-burst",endpoint="coder-fast",outcome="${outcome}"} 1\n`,
    );
  });
});
