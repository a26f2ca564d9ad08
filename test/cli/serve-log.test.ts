// What the operator sees: `llm-fleet serve` (its own process, in front of simulated vLLM 0.11.0,
// llama.cpp b6715 and TEI 1.8.0 endpoints) writes one line per request and, as lines of their own,
// the failovers, rescues and breaker transitions — as text, or as JSON with --log-format json.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadFleet } from '../../src/fleet/index.ts';
import { startServe, type ServeProcess } from '../support/serve.ts';
import { startEndpointSims, type EndpointSims } from '../support/sims.ts';

const FLEET = 'examples/onex.fleet.yaml';
let dir: string;
let sims: EndpointSims['sims'];
let env: EndpointSims['env'];
let closeSims: EndpointSims['close'] | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-serve-log-'));
  const fleet = loadFleet(FLEET, { env: {} });
  ({
    sims,
    env,
    close: closeSims,
  } = await startEndpointSims(
    fleet.endpoints.filter((x) => x.status === 'running'),
    { seed: 3, latency: { scale: 0.02 } },
  ));
});
afterAll(async () => {
  await closeSims?.();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(format: 'text' | 'json', store: string): Promise<ServeProcess> {
  return startServe(['-f', FLEET, '--no-monitor', '--store', join(dir, store), '--log-format', format], env);
}

async function chat(url: string, body: Record<string, unknown>): Promise<string> {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'log me' }], max_tokens: 24, ...body }),
  });
  return r.text();
}

describe('serve --log-format text', () => {
  let gw: ServeProcess;
  beforeAll(async () => {
    gw = await serve('text', 'text.db');
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('a rescue line when a stream is cut after its first tokens', async () => {
    sims['coder-fast']!.setFaults([{ kind: 'cut', afterTokens: 3, firstRequests: 1 }]);
    await chat(gw.url, { model: 'coder-fast', stream: true });
    await vi.waitFor(
      () => expect(gw.stderr()).toMatch(/ rescue req=\S+ coder-fast -> \S+ cause=stream_cut/),
      {
        timeout: 5_000,
      },
    );
    await vi.waitFor(
      () => expect(gw.stderr()).toMatch(/attempts=coder-fast:stream_cut,\+\S+:ok status=200 outcome=ok/),
      { timeout: 5_000 },
    );
  });

  it('a request line with route, endpoint, attempts, status, TTFT, tokens, duration and causes; a failover line', async () => {
    sims['coder-fast']!.setFaults([{ kind: 'http-503', retryAfterSeconds: 30, firstRequests: 1 }]);
    await chat(gw.url, { model: 'coder-fast' });
    await vi.waitFor(() => expect(gw.stderr()).toMatch(/ chat route=coder-fast .*causes=overloaded/), {
      timeout: 5_000,
    });
    const lines = gw.stderr().trim().split('\n');
    const failover = lines.find((l) => / failover /.test(l));
    expect(failover).toMatch(/^\S+Z failover req=\S+ coder-fast -> coder cause=overloaded$/);
    const request = lines.find((l) => / route=coder-fast .*causes=overloaded/.test(l));
    expect(request).toMatch(
      /^\d{4}-\d\d-\d\dT\S+Z req=\S+ chat route=coder-fast endpoint=coder attempts=coder-fast:overloaded,coder:ok status=200 outcome=ok ttft=\d+ms tokens=\d+\+24 dur=\d+ms causes=overloaded$/,
    );
  });

  it('breaker transitions as lines of their own', async () => {
    sims.embeddings!.setFaults([{ kind: 'http-500' }]);
    for (let i = 0; i < 4; i++)
      await fetch(`${gw.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'embedding', input: ['x'] }),
      }).then((r) => r.text());
    sims.embeddings!.setFaults([]);
    await vi.waitFor(() => expect(gw.stderr()).toMatch(/ breaker endpoint=embeddings closed -> open$/m), {
      timeout: 5_000,
    });
    expect(gw.stderr()).toMatch(
      /embeddings route=embedding endpoint=embeddings attempts=embeddings:server_error,embeddings:server_error status=502 outcome=upstream_error .*causes=server_error error=/,
    );
  });
});

describe('serve --log-format json', () => {
  it('one JSON object per line, request and event lines alike', async () => {
    const gw = await serve('json', 'json.db');
    try {
      sims['coder-fast']!.setFaults([{ kind: 'http-503', retryAfterSeconds: 30, firstRequests: 1 }]);
      await chat(gw.url, { model: 'coder-fast' });
      await vi.waitFor(() => expect(gw.stderr()).toMatch(/"type":"request"/), { timeout: 5_000 });
      const objects = gw
        .stderr()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objects.find((o) => o.type === 'failover')).toMatchObject({
        from: 'coder-fast',
        to: 'coder',
        cause: 'overloaded',
      });
      expect(objects.find((o) => o.type === 'request')).toMatchObject({
        route: 'coder-fast',
        endpoint: 'coder',
        status: 200,
        outcome: 'ok',
        completionTokens: 24,
        causes: ['overloaded'],
        attempts: [
          { endpoint: 'coder-fast', status: 503, error: 'overloaded' },
          { endpoint: 'coder', status: 200 },
        ],
      });
    } finally {
      await gw.stop();
    }
  });
});
