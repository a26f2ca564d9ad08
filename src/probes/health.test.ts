import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../fleet/index.ts';
import { loadFleet } from '../fleet/index.ts';
import { checkHealth, judgeHealth } from './health.ts';
import { probeRequest } from './request-probe.ts';

// A tiny server answering /health the way each real server does (wire-formats §10.2), by path prefix.
const answers: Record<string, [number, string]> = {
  '/vllm-ok': [200, ''],
  '/vllm-dead': [503, ''],
  '/llama-loading': [503, '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}'],
  '/llama-ok': [200, '{"status":"ok"}'],
  '/mlx-ok': [200, '{"status": "ok"}'],
  '/tei-bad': [503, '{"error":"unhealthy","error_type":"Unhealthy"}'],
  '/vllm-key': [401, '{"error":"Unauthorized"}'],
  '/llama-500': [500, '{"error":{"code":500,"message":"boom","type":"server_error"}}'],
  '/key/v1/chat/completions': [401, '{"error":"Unauthorized"}'],
  '/broken/v1/chat/completions': [500, ''],
};

let server: Server;
let base: string;
let closedPort: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = Object.keys(answers).find((k) => req.url?.startsWith(k));
    if (req.url?.startsWith('/hang')) return; // never answers
    const [status, body] = key ? (answers[key] as [number, string]) : [404, 'nope'];
    res.writeHead(status).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
function at(name: string, url: string): Endpoint {
  const e = fleet.endpoints.find((x) => x.name === name) as Endpoint;
  return { ...e, url };
}

describe('checkHealth over real HTTP on loopback', () => {
  it('understands each dialect', async () => {
    const cases: [string, string, boolean, string | undefined][] = [
      ['coder', '/vllm-ok', true, undefined],
      ['coder', '/vllm-dead', false, 'engine_dead'],
      ['deepseek-r1', '/llama-loading', false, 'loading'],
      ['deepseek-r1', '/llama-ok', true, undefined],
      ['small', '/mlx-ok', true, undefined],
      ['embeddings', '/tei-bad', false, 'unhealthy'],
      // A 4xx is an answer: the server is up (an API key in front of /health, a path it lacks).
      ['coder', '/vllm-key', true, undefined],
      ['small', '/no-such-path', true, undefined],
      ['deepseek-r1', '/llama-500', false, 'http_500'],
    ];
    for (const [name, path, ok, cause] of cases) {
      const r = await checkHealth(at(name, `${base}${path}`), { timeoutMs: 5000 });
      expect({ path, ok: r.ok, cause: r.cause }).toEqual({ path, ok, cause });
    }
  });

  it('reports a refused connection cleanly', async () => {
    const r = await checkHealth(at('coder', `http://127.0.0.1:${closedPort}`), { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, cause: 'connect_refused', detail: 'connection refused' });
  });

  it('times out on a server that never answers', async () => {
    const r = await checkHealth(at('coder', `${base}/hang`), { timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, cause: 'timeout' });
  });

  it('never leaves loopback while the guard is on', async () => {
    const r = await checkHealth(at('coder', 'http://192.168.86.201:8000'), { timeoutMs: 2000 });
    expect(r).toMatchObject({ ok: false, cause: 'loopback_only' });
  });
});

describe('probeRequest', () => {
  it('a 4xx answer to the real request proves the server up; a 5xx does not', async () => {
    const up = await probeRequest(at('coder', `${base}/key`), { timeoutMs: 5000 });
    expect(up).toMatchObject({ ok: true, status: 401 });
    const down = await probeRequest(at('coder', `${base}/broken`), { timeoutMs: 5000 });
    expect(down).toMatchObject({ ok: false, status: 500, cause: 'http_500' });
  });
});

describe('judgeHealth', () => {
  it('treats an unexpected status as a failure with its code', () => {
    expect(judgeHealth({ dialect: 'vllm' }, 500, '')).toMatchObject({ ok: false, cause: 'http_500' });
  });

  it('counts a 4xx answer as up, a 408 as not', () => {
    expect(judgeHealth({ dialect: 'mlx' }, 404, 'Not Found')).toMatchObject({ ok: true });
    expect(judgeHealth({ dialect: 'llamacpp' }, 429, '')).toMatchObject({ ok: true });
    expect(judgeHealth({ dialect: 'tei' }, 408, '')).toMatchObject({ ok: false, cause: 'http_408' });
  });
});
