// `serve --workers 2` without Redis: the workers share the primary's state over IPC, so an
// endpoint's breaker opens after `consecutiveFailures` failures in all — not that many per worker.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BREAKER } from '../../src/state/index.ts';
import { seen, startHarness, type Harness } from '../gateway/harness.ts';
import { freePort } from '../support/ports.ts';

const BIN = fileURLToPath(new URL('../../bin/llm-fleet.js', import.meta.url));
const FLEET = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));

let h: Harness;
let child: ChildProcess;
let url: string;

function get(path: string): Promise<Response> {
  return fetch(`${url}${path}`, { headers: { connection: 'close' } });
}

describe('serve --workers 2 shares one state over IPC', () => {
  beforeAll(async () => {
    h = await startHarness();
    const env: Record<string, string> = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' } as Record<
      string,
      string
    >;
    for (const e of h.fleet.endpoints) if (h.sims[e.name]) env[e.env] = h.sims[e.name]!.url;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '-f',
        FLEET,
        '--workers',
        '2',
        '--port',
        String(port),
        '--no-monitor',
        '--store',
        ':memory:',
      ],
      { env, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await get('/health')).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('serve --workers 2 did not start');
      await sleep(100);
    }
  }, 30_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    await h?.close();
  });

  it('both workers answer, and a failing endpoint gets consecutiveFailures requests in all, not per worker', async () => {
    const replicas = new Set<string>();
    const deadline = Date.now() + 10_000;
    // Connections are dealt round-robin; the second worker may still be starting.
    while (replicas.size < 2 && Date.now() < deadline) {
      const body = (await (await get('/health')).json()) as { state: { mode: string; replica: string } };
      expect(body.state.mode).toBe('ipc');
      replicas.add(body.state.replica);
    }
    expect(replicas.size).toBe(2);

    h.setFaults('coder-fast', [{ kind: 'http-500' }]);
    const before = seen(h, 'coder-fast');
    for (let i = 0; i < 4 * DEFAULT_BREAKER.consecutiveFailures; i++) {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({
          model: 'coder-fast',
          messages: [{ role: 'user', content: 'hi' }],
          max_tokens: 4,
        }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(seen(h, 'coder-fast') - before).toBe(DEFAULT_BREAKER.consecutiveFailures);
  }, 60_000);
});
