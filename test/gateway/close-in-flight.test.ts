// Closing the gateway with streams in flight: their client connections close and their upstream
// calls are torn down, and none of that is the endpoint's fault — the breaker stays closed, the
// health view does not mark the endpoint down. (Before, each cut stream counted as a failure of
// the endpoint it was reading from, so a replica that stopped during a rolling restart opened the
// breakers the other replicas share.)
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('gateway.close() with requests in flight', () => {
  it('charges nothing to the endpoint the streams were reading from', async () => {
    h = await startHarness({ deps: { breaker: { consecutiveFailures: 1, openMs: 60_000 } } });
    const harness = h;
    const streams = Array.from({ length: 4 }, async (_, i) => {
      const r = await fetch(`${harness.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'coder-fast',
          stream: true,
          max_tokens: 400,
          messages: [{ role: 'user', content: `a long answer, please (#${i})` }],
        }),
      });
      const reader = (r.body as ReadableStream<Uint8Array>).getReader();
      // The first bytes are relayed: the stream is in flight.
      expect((await reader.read()).done).toBe(false);
      return reader;
    });
    const readers = await Promise.all(streams);
    await harness.gateway.close();
    // Every stream ended (cut by the close), none ran to the end.
    for (const reader of readers) {
      const rest = await (async () => {
        try {
          for (;;) if ((await reader.read()).done) return 'ended';
        } catch {
          return 'cut';
        }
      })();
      expect(['ended', 'cut']).toContain(rest);
    }
    const breaker = harness.gateway.context.breaker('coder-fast').snapshot(Date.now());
    expect(breaker.state).toBe('closed');
    expect(harness.gateway.context.health.state('coder-fast')).not.toBe('down');
  });
});
