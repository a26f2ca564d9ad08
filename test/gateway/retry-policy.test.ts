// Retry on the preferred endpoint, by policy (gateway.retry, per endpoint `retry`): after a
// transient failure before the first token the gateway retries the same endpoint once when the
// wait — never shorter than Retry-After — is at most the bound (2 s) and the request's TTFT
// deadline leaves room; otherwise it fails over at once. Simulated vLLM 0.11.0 (coder-fast, coder).
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { parseFleet } from '../../src/fleet/index.ts';
import type { GatewayEvent } from '../../src/gateway/events.ts';
import type { FaultSpec } from '../../src/sim/faults.ts';
import { startHarness, TEST_TIMEOUTS, type Harness, type HarnessOptions } from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const events: GatewayEvent[] = [];

async function ask(options: HarnessOptions & { fault: FaultSpec }): Promise<{
  attempts: { endpoint: string; error: string; startedAtMs: number }[];
  endpoint: string | null;
}> {
  events.length = 0;
  h = await startHarness({
    ...options,
    faults: { 'coder-fast': [options.fault] },
    deps: { events: (e) => events.push(e) },
  });
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const { response } = await client.chat.completions
    .create({ model: 'coder-fast', messages: [{ role: 'user', content: 'retry me' }], max_tokens: 16 })
    .withResponse();
  const record = h.records[0];
  return {
    attempts: (record?.attempts ?? []).map((a) => ({
      endpoint: a.endpoint,
      error: a.error ?? 'ok',
      startedAtMs: a.startedAtMs,
    })),
    endpoint: response.headers.get('x-llm-fleet-endpoint'),
  };
}

describe('retry the same endpoint once when the wait is short', () => {
  it('503 with Retry-After: 1 → waits out the Retry-After, retries coder-fast, never touches coder', async () => {
    const r = await ask({ fault: { kind: 'http-503', retryAfterSeconds: 1, firstRequests: 1 } });
    expect(r.endpoint).toBe('coder-fast');
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual([
      'coder-fast:overloaded',
      'coder-fast:ok',
    ]);
    // Retry-After is honoured: the retry starts no sooner than a second after the refusal.
    expect(r.attempts[1]!.startedAtMs - r.attempts[0]!.startedAtMs).toBeGreaterThanOrEqual(990);
    expect(events).toContainEqual(
      expect.objectContaining({ kind: 'retry', endpoint: 'coder-fast', cause: 'overloaded', waitMs: 1000 }),
    );
    expect(events.some((e) => e.kind === 'failover')).toBe(false);
  });

  it('a reset before the headers → one quick retry on coder-fast', async () => {
    const r = await ask({ fault: { kind: 'reset', firstRequests: 1 } });
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual([
      'coder-fast:connection_reset',
      'coder-fast:ok',
    ]);
  });
});

describe('otherwise fail over at once', () => {
  it('Retry-After 5 s is over the 2 s bound → coder at once, well before the pause ends', async () => {
    const r = await ask({ fault: { kind: 'http-503', retryAfterSeconds: 5, firstRequests: 1 } });
    expect(r.endpoint).toBe('coder');
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual(['coder-fast:overloaded', 'coder:ok']);
    expect(r.attempts[1]!.startedAtMs - r.attempts[0]!.startedAtMs).toBeLessThan(5_000);
    expect(events).toContainEqual(
      expect.objectContaining({ kind: 'failover', from: 'coder-fast', to: 'coder' }),
    );
  });

  it("the wait would not leave room in the request's TTFT deadline → coder at once", async () => {
    const r = await ask({
      fault: { kind: 'http-503', retryAfterSeconds: 1, firstRequests: 1 },
      patch: () => ({ timeouts: { ...TEST_TIMEOUTS, ttftTimeoutMs: 1_000 } }),
    });
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual(['coder-fast:overloaded', 'coder:ok']);
  });

  it('an endpoint whose own policy says sameEndpointFirst: false → coder at once, even after a reset', async () => {
    const r = await ask({
      fault: { kind: 'reset', firstRequests: 1 },
      patch: (e) => (e.name === 'coder-fast' ? { retry: { sameEndpointFirst: false } } : {}),
    });
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual([
      'coder-fast:connection_reset',
      'coder:ok',
    ]);
  });

  it('a fleet whose gateway.retry.maxWait is 500ms → a 1 s Retry-After fails over', async () => {
    const r = await ask({
      fault: { kind: 'http-503', retryAfterSeconds: 1, firstRequests: 1 },
      gateway: { retry: { sameEndpointFirst: true, maxWaitMs: 500 } },
    });
    expect(r.attempts.map((a) => `${a.endpoint}:${a.error}`)).toEqual(['coder-fast:overloaded', 'coder:ok']);
  });
});

describe('the fleet file', () => {
  it('reads gateway.retry and an endpoint override, with the defaults when left out', () => {
    const text = readFileSync('examples/onex.fleet.yaml', 'utf8');
    const plain = parseFleet(text, 'onex.fleet.yaml', { env: {} });
    expect(plain.gateway.retry).toEqual({ sameEndpointFirst: true, maxWaitMs: 2_000 });
    const doc = parseDocument(text);
    doc.setIn(['gateway', 'retry'], doc.createNode({ sameEndpointFirst: true, maxWait: '1500ms' }));
    doc.setIn(['endpoints', 'coder', 'retry'], doc.createNode({ sameEndpointFirst: false }));
    const edited = parseFleet(doc.toString(), 'edited.yaml', { env: {} });
    expect(edited.gateway.retry).toEqual({ sameEndpointFirst: true, maxWaitMs: 1_500 });
    expect(edited.endpoints.find((e) => e.name === 'coder')?.retry).toEqual({ sameEndpointFirst: false });
  });
});
