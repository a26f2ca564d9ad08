// A gateway replica killed mid-stream, behind examples/ha's balancer: two `serve` processes, six
// streams through the balancer (three on each), then one replica gets SIGKILL. Its clients get an
// explicit error (the connection is reset), never a clean end of the response; the other replica's
// streams run to [DONE] untouched; new requests go to the survivor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Balancer } from '../../examples/ha/balancer.ts';
import { startBalancer } from '../../examples/ha/balancer.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import type { ServeProcess } from '../support/serve.ts';
import { startServe } from '../support/serve.ts';

interface Stream {
  readonly replica: number;
  /** Settles with the whole body, or rejects with the error the client saw. */
  readonly body: Promise<string>;
  readonly firstChunk: Promise<void>;
}

async function openStream(url: string, n: number): Promise<Stream> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'coder-fast',
      stream: true,
      max_tokens: 60,
      messages: [{ role: 'user', content: `long answer ${n}` }],
    }),
  });
  expect(res.status).toBe(200);
  const replica = Number(res.headers.get('x-llm-fleet-balancer-upstream'));
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  let seen: () => void = () => undefined;
  const firstChunk = new Promise<void>((resolve) => (seen = resolve));
  const body = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
      if (text.includes('data: {')) seen();
    }
  })();
  body.catch(() => undefined);
  return { replica, body, firstChunk };
}

describe('a replica killed mid-stream behind the balancer', { timeout: 120_000 }, () => {
  let sims: SimFleet;
  let dir: string;
  const replicas: ServeProcess[] = [];
  let balancer: Balancer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'llm-fleet-ha-'));
    const base = loadFleet('examples/onex.fleet.yaml', { env: {}, environment: 'development' });
    sims = await startSimFleet(base, { only: ['coder-fast'], seed: 9 });
    for (let i = 0; i < 2; i++)
      replicas.push(
        await startServe(
          ['-f', 'examples/onex.fleet.yaml', '--store', join(dir, `replica-${i}.db`), '--no-monitor'],
          sims.env,
          { label: `replica ${i}` },
        ),
      );
    balancer = await startBalancer(replicas.map((r) => r.url));
  }, 60_000);

  afterAll(async () => {
    await balancer?.close();
    for (const r of replicas) await r.stop();
    await sims?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('its clients get an error, the other replica’s streams finish, new requests go to the survivor', async () => {
    // Streams that last a few seconds: after 5 fast tokens the simulator decodes 25 tokens/s.
    sims.endpoints
      .get('coder-fast')
      ?.setFaults([{ kind: 'slow-decode', afterTokens: 5, tokensPerSecond: 25 }]);
    const streams = await Promise.all(Array.from({ length: 6 }, (_, n) => openStream(balancer.url, n)));
    expect(streams.map((s) => s.replica).sort()).toEqual([0, 0, 0, 1, 1, 1]);
    await Promise.all(streams.map((s) => s.firstChunk));
    await replicas[0]?.stop('SIGKILL');
    const outcomes = await Promise.all(
      streams.map((s) =>
        s.body.then(
          (text) => ({ replica: s.replica, ok: true as const, text }),
          (error: unknown) => ({ replica: s.replica, ok: false as const, error }),
        ),
      ),
    );
    for (const o of outcomes.filter((o) => o.replica === 0)) {
      // An explicit failure (undici: "terminated", caused by the reset), never a body that just ends.
      expect(o.ok).toBe(false);
      if (!o.ok) expect(String((o.error as Error).cause ?? o.error)).toMatch(/ECONNRESET|terminated|socket/i);
    }
    for (const o of outcomes.filter((o) => o.replica === 1)) {
      expect(o.ok).toBe(true);
      if (o.ok) {
        expect(o.text).toMatch(/"finish_reason":"(length|stop)"/);
        expect(o.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
      }
    }
    sims.endpoints.get('coder-fast')?.setFaults([]);
    // The dead replica is skipped from now on.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${balancer.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'coder-fast',
          max_tokens: 4,
          messages: [{ role: 'user', content: 'after' }],
        }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-llm-fleet-balancer-upstream')).toBe('1');
      await res.text();
    }
  });
});
