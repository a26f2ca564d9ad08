// Every simulator fault, on the endpoint a request goes to first, seen from the client: each ends
// in the complete answer (failover before the first token, rescue by continuation after it) or in
// an explicit error — never in a truncated stream that looks like success — and within its budget.
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultSpec } from '../../src/sim/faults.ts';
import {
  expectedAnswer,
  postJson,
  startHarness,
  streamChat,
  TEST_TIMEOUTS,
  type Harness,
} from './harness.ts';

const MAX_TOKENS = 300;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// The worst case a fault may cost: a TTFT timeout, an idle timeout, then a whole answer elsewhere.
const BUDGET_MS = TEST_TIMEOUTS.ttftTimeoutMs + TEST_TIMEOUTS.idleTimeoutMs + 10_000;

const cases: { name: string; fault: FaultSpec; cause: string; afterContent: boolean }[] = [
  {
    name: 'down (connection refused)',
    fault: { kind: 'down' },
    cause: 'connect_refused',
    afterContent: false,
  },
  {
    name: 'engine dead (500, empty body)',
    fault: { kind: 'dead' },
    cause: 'server_error',
    afterContent: false,
  },
  { name: 'HTTP 500', fault: { kind: 'http-500' }, cause: 'server_error', afterContent: false },
  {
    name: 'HTTP 503 with Retry-After',
    fault: { kind: 'http-503', retryAfterSeconds: 30 },
    cause: 'overloaded',
    afterContent: false,
  },
  {
    name: 'HTTP 429 with Retry-After',
    fault: { kind: 'http-429', retryAfterSeconds: 30 },
    cause: 'rate_limited',
    afterContent: false,
  },
  { name: 'reset before headers', fault: { kind: 'reset' }, cause: 'connection_reset', afterContent: false },
  { name: 'hang (no answer at all)', fault: { kind: 'hang' }, cause: 'ttft_timeout', afterContent: false },
  {
    name: 'slow first token',
    fault: { kind: 'slow-first-token', delayMs: 20_000 },
    cause: 'ttft_timeout',
    afterContent: false,
  },
  {
    name: 'context-length 400',
    fault: { kind: 'context-400' },
    cause: 'context_length',
    afterContent: false,
  },
  {
    name: 'cut after 5 tokens',
    fault: { kind: 'cut', afterTokens: 5 },
    cause: 'stream_cut',
    afterContent: true,
  },
  {
    name: 'stall after 5 tokens',
    fault: { kind: 'stall', afterTokens: 5 },
    cause: 'idle_timeout',
    afterContent: true,
  },
  {
    name: 'malformed chunk after 5 tokens',
    fault: { kind: 'malformed', afterTokens: 5 },
    cause: 'malformed_chunk',
    afterContent: true,
  },
  {
    name: 'error event mid-stream',
    fault: { kind: 'midstream-error', afterTokens: 5 },
    cause: 'stream_error',
    afterContent: true,
  },
  {
    name: 'slow decode after 5 tokens',
    fault: { kind: 'slow-decode', afterTokens: 5, tokensPerSecond: 0.005 },
    cause: 'idle_timeout',
    afterContent: true,
  },
];

describe('every simulator fault on the first candidate (coder-fast → coder)', () => {
  for (const c of cases) {
    it(`${c.name}: the client gets the whole answer, streamed`, async () => {
      h = await startHarness({ faults: { 'coder-fast': [c.fault] } });
      const messages = [{ role: 'user', content: `fault case ${c.name}` }];
      const started = performance.now();
      const r = await streamChat(h.url, { model: 'auto', messages, max_tokens: MAX_TOKENS });
      const elapsedMs = performance.now() - started;
      expect(r.error).toBeUndefined();
      expect(r.done).toBe(true);
      expect(r.content).toBe(expectedAnswer(messages, { maxTokens: MAX_TOKENS }).content);
      expect(elapsedMs).toBeLessThan(BUDGET_MS);
      const record = h.records.at(-1);
      expect(record?.outcome).toBe('ok');
      expect(record?.attempts[0]).toMatchObject({ endpoint: 'coder-fast', error: c.cause });
      if (c.afterContent) {
        // Rescued by continuation: the first attempt sent content, the second continued it.
        expect(record?.attempts.some((a) => a.continuation)).toBe(true);
      } else {
        expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder');
        expect(r.headers.get('x-llm-fleet-reason')).toContain(`coder-fast ${c.cause}`);
      }
    });

    it(`${c.name}: non-streaming requests are retried whole`, async () => {
      h = await startHarness({ faults: { 'coder-fast': [c.fault] } });
      const messages = [{ role: 'user', content: `whole ${c.name}` }];
      const r = await postJson(h.url, '/v1/chat/completions', {
        model: 'auto',
        messages,
        max_tokens: MAX_TOKENS,
      });
      expect(r.status).toBe(200);
      const choice = (r.body.choices as { message: { content: string } }[])[0];
      expect(choice?.message.content).toBe(expectedAnswer(messages, { maxTokens: MAX_TOKENS }).content);
    });
  }

  it('flapping: every request of a series completes, whichever phase it meets', async () => {
    h = await startHarness({ faults: { 'coder-fast': [{ kind: 'flap', downMs: 150, periodMs: 300 }] } });
    for (let i = 0; i < 8; i++) {
      const messages = [{ role: 'user', content: `flap ${i}` }];
      const r = await streamChat(h.url, { model: 'auto', messages, max_tokens: 40 });
      expect(r.error).toBeUndefined();
      expect(r.content).toBe(expectedAnswer(messages, { maxTokens: 40 }).content);
    }
  });

  it('after content with no endpoint able to continue, the stream ends with an explicit error naming the cause', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 5 }] },
      patch: () => ({ canContinue: false }),
    });
    const r = await streamChat(h.url, {
      model: 'auto',
      messages: [{ role: 'user', content: 'no rescue' }],
      max_tokens: MAX_TOKENS,
    });
    expect(r.status).toBe(200);
    expect(r.done).toBe(false);
    expect(r.error?.code).toBe('stream_cut');
    expect(r.error?.message).toContain('coder-fast');
    expect(r.content.length).toBeGreaterThan(0);
    expect(h.records.at(-1)?.outcome).toBe('upstream_error');
  });

  it('when the rescuer rejects the prefill, the error names the original failure, not the rejection', async () => {
    h = await startHarness({
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 5 }], coder: [{ kind: 'http-500' }] },
      // coder is the only endpoint left that could continue.
      patch: (e) => (e.name === 'coder' ? {} : { canContinue: false }),
    });
    const r = await streamChat(h.url, {
      model: 'auto',
      messages: [{ role: 'user', content: 'rescue fails' }],
      max_tokens: MAX_TOKENS,
    });
    expect(r.done).toBe(false);
    expect(r.error?.code).toBe('stream_cut');
    expect(r.error?.message).not.toContain('server_error');
  });

  it('a stream cut on a reasoning model is continued inside the reasoning', async () => {
    h = await startHarness({ faults: { 'deepseek-r1': [{ kind: 'cut', afterTokens: 8 }] } });
    const messages = [{ role: 'user', content: 'think about it' }];
    // Only the reasoning endpoint itself can continue its reasoning: let its second try through.
    h.sims['deepseek-r1']?.setFaults([{ kind: 'cut', afterTokens: 8, firstRequests: 1 }]);
    const r = await streamChat(h.url, { model: 'deepseek-r1', messages, max_tokens: MAX_TOKENS });
    const expected = expectedAnswer(messages, { maxTokens: MAX_TOKENS, reasoning: true });
    expect(r.error).toBeUndefined();
    expect(r.reasoning).toBe(expected.reasoning);
    expect(r.content).toBe(expected.content);
  });

  it('every candidate down: an explicit 502 naming each cause, nothing truncated', async () => {
    h = await startHarness({
      faults: {
        'coder-fast': [{ kind: 'down' }],
        coder: [{ kind: 'http-500' }],
        // Beyond the matrix, auto also tries every other chat endpoint that fits.
        'deepseek-r1': [{ kind: 'reset' }],
        small: [{ kind: 'down' }],
      },
    });
    const r = await streamChat(h.url, {
      model: 'auto',
      messages: [{ role: 'user', content: 'nobody home' }],
    });
    expect(r.status).toBe(502);
    expect(r.error?.message).toContain('coder-fast: connect_refused');
    expect(r.error?.message).toContain('coder: server_error');
    expect(r.error?.message).toContain('deepseek-r1: connection_reset');
  });
});
