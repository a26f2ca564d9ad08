// The servers' own --api-key, as each checks it (simulator as strict as vLLM 0.11.0, llama.cpp
// b6715 and TEI 1.8.0; mlx_lm has no key), the key the gateway presents upstream (apiKeyEnv), and
// what a client sees when an endpoint refuses the gateway's key: failover to the next endpoint, and
// when every one refuses, a 502 that keeps the upstream's type, code and message (a 401 would tell
// the client that its own key is wrong). A refused key is the endpoint's configuration fault: the
// server is up, so no breaker opens and nothing is marked down; the monitor sees 4xx as up.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFleet } from '../../src/fleet/index.ts';
import { startMonitor } from '../../src/probes/monitor.ts';
import { startSimEndpoint, type SimServer } from '../../src/sim/endpoint.ts';
import { postJson, seen, startHarness, type Harness } from './harness.ts';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scrapeDispatcher, scrapeEngine } from '../../src/gateway/load/engine.ts';

const KEY = 'sk-upstream-right-0001';
const WRONG = 'sk-upstream-wrong-0002';
const messages = [{ role: 'user', content: 'hello through keyed servers' }];

let h: Harness | undefined;
const sims: SimServer[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function sim(options: Parameters<typeof startSimEndpoint>[0]): Promise<SimServer> {
  const s = await startSimEndpoint(options);
  sims.push(s);
  return s;
}

async function call(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

const chat = { messages, max_tokens: 4 };

describe('--api-key on the simulated servers, as the real ones check it', () => {
  it('vLLM 0.11.0: only /v1 paths are guarded; any-case "bearer"; 401 {"error":"Unauthorized"}', async () => {
    const s = await sim({ dialect: 'vllm', model: 'm', version: '0.11.0', apiKey: KEY });
    const refused = await call(s.url, '/v1/chat/completions', { body: chat });
    expect(refused).toMatchObject({ status: 401, text: '{"error":"Unauthorized"}' });
    expect((await call(s.url, '/v1/models')).status).toBe(401);
    const wrong = await call(s.url, '/v1/chat/completions', {
      body: chat,
      headers: { authorization: `Bearer ${WRONG}` },
    });
    expect(wrong.status).toBe(401);
    const ok = await call(s.url, '/v1/chat/completions', {
      body: chat,
      headers: { authorization: `bearer ${KEY}` },
    });
    expect(ok.status).toBe(200);
    for (const open of ['/health', '/metrics', '/version'])
      expect((await call(s.url, open)).status, open).toBe(200);
  });

  it('llama.cpp b6715: all but /health, /v1/health, /models, /v1/models are guarded; Bearer or X-Api-Key', async () => {
    const s = await sim({ dialect: 'llamacpp', model: 'm', apiKey: KEY });
    const refused = await call(s.url, '/v1/chat/completions', { body: chat });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toEqual({
      error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' },
    });
    // /metrics and /props are behind the key too (the gateway's load scraper sends it).
    expect((await call(s.url, '/metrics')).status).toBe(401);
    expect((await call(s.url, '/props')).status).toBe(401);
    expect((await call(s.url, '/props', { headers: { 'x-api-key': KEY } })).status).toBe(200);
    for (const open of ['/health', '/v1/models', '/models'])
      expect((await call(s.url, open)).status, open).toBe(200);
    const ok = await call(s.url, '/v1/chat/completions', {
      body: chat,
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(ok.status).toBe(200);
  });

  it('TEI 1.8.0: inference routes want exactly "Bearer <key>"; bare 401; /health and /metrics are public', async () => {
    const s = await sim({ dialect: 'tei', model: 'e', kind: 'embeddings', version: '1.8.0', apiKey: KEY });
    const body = { input: 'x', model: 'e' };
    const refused = await call(s.url, '/v1/embeddings', { body });
    expect(refused).toMatchObject({ status: 401, text: '' });
    // TEI compares the whole header: another spelling of the scheme is refused.
    expect(
      (await call(s.url, '/v1/embeddings', { body, headers: { authorization: `bearer ${KEY}` } })).status,
    ).toBe(401);
    expect(
      (await call(s.url, '/v1/embeddings', { body, headers: { authorization: `Bearer ${KEY}` } })).status,
    ).toBe(200);
    expect((await call(s.url, '/info')).status).toBe(401);
    for (const open of ['/health', '/metrics']) expect((await call(s.url, open)).status, open).toBe(200);
  });

  it('mlx_lm has no --api-key: the simulator refuses to pretend', async () => {
    await expect(startSimEndpoint({ dialect: 'mlx', model: 'm', apiKey: KEY })).rejects.toThrow(
      /no --api-key/,
    );
  });
});

describe('the fleet file names the variable, never the key', () => {
  const file = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
  const withKeyEnv = (field: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-key-'));
    const text = readFileSync(file, 'utf8').replace(
      '    env: LLM_CODER_URL\n',
      `    env: LLM_CODER_URL\n    ${field}\n`,
    );
    writeFileSync(join(dir, 'fleet.yaml'), text);
    return join(dir, 'fleet.yaml');
  };

  it('apiKeyEnv is read from the environment at load time; unset, it warns', () => {
    const path = withKeyEnv('apiKeyEnv: LLM_CODER_KEY');
    const set = loadFleet(path, { env: { LLM_CODER_KEY: KEY } });
    expect(set.endpoints.find((e) => e.name === 'coder')).toMatchObject({
      apiKeyEnv: 'LLM_CODER_KEY',
      upstreamApiKey: KEY,
    });
    const unset = loadFleet(path, { env: {} });
    expect(unset.endpoints.find((e) => e.name === 'coder')?.upstreamApiKey).toBeUndefined();
    expect(unset.warnings.map((w) => w.code)).toContain('api_key_env_unset');
  });

  it('a key written into the file is refused with a hint to name a variable instead', () => {
    expect(() => loadFleet(withKeyEnv(`apiKey: ${KEY}`), { env: {} })).toThrow(
      /fleet\.yaml:\d+:\d+: endpoints\.coder: Unrecognized key: "apiKey"[^]*keys stay out of the fleet file: set apiKeyEnv/,
    );
  });
});

function keyed(h: Harness): { breaker: (e: string) => string; health: (e: string) => string } {
  return {
    breaker: (e) => h.gateway.context.breaker(e).snapshot(Date.now()).state,
    health: (e) => h.gateway.context.health.state(e),
  };
}

describe('the gateway presents each endpoint its key', () => {
  it('wrong key on the first endpoint, right on its fallback: 200 from the fallback, the cause in header and record', async () => {
    h = await startHarness({
      sim: { coder: { apiKey: KEY }, 'coder-fast': { apiKey: KEY } },
      patch: (e) =>
        e.name === 'coder'
          ? { upstreamApiKey: WRONG }
          : e.name === 'coder-fast'
            ? { upstreamApiKey: KEY }
            : {},
    });
    const { breaker, health } = keyed(h);
    for (let i = 0; i < 6; i++) {
      const r = await postJson(h.url, '/v1/chat/completions', { model: 'coder', ...chat });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
      expect(r.headers.get('x-llm-fleet-reason')).toContain('after coder upstream_auth');
    }
    const record = h.records.at(-1);
    expect(record?.attempts?.[0]).toMatchObject({ endpoint: 'coder', status: 401, error: 'upstream_auth' });
    // Six refusals: the server is up and the key is the endpoint's configuration, not an outage.
    expect(breaker('coder')).toBe('closed');
    expect(health('coder')).not.toBe('down');
    expect(seen(h, 'coder-fast')).toBe(6);
  });

  it('every endpoint refuses the key: 502 with the upstream type and message, error.upstream names who', async () => {
    h = await startHarness({
      sim: { 'deepseek-r1': { apiKey: KEY } },
      patch: (e) => (e.name === 'deepseek-r1' ? { upstreamApiKey: WRONG, fallbacks: [] } : {}),
    });
    const r = await postJson(h.url, '/v1/chat/completions', { model: 'deepseek-r1', ...chat });
    expect(r.status).toBe(502);
    const error = r.body.error as Record<string, unknown>;
    expect(error).toMatchObject({
      type: 'authentication_error',
      code: 'upstream_auth',
      upstream: {
        endpoint: 'deepseek-r1',
        status: 401,
        type: 'authentication_error',
        message: 'Invalid API Key',
      },
    });
    expect(String(error.message)).toContain("deepseek-r1 refused the gateway's key");
    expect(keyed(h).breaker('deepseek-r1')).toBe('closed');
  });

  it('every endpoint says it does not serve the model: the 404 passes through with the upstream type', async () => {
    h = await startHarness({
      patch: (e) => (e.name === 'coder' ? { servedModel: 'not-loaded-here', fallbacks: [] } : {}),
    });
    const r = await postJson(h.url, '/v1/chat/completions', { model: 'coder', ...chat });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({
      type: 'NotFoundError',
      code: 'model_not_found',
      param: 'model',
      upstream: { endpoint: 'coder', status: 404, type: 'NotFoundError' },
    });
    expect(keyed(h).breaker('coder')).toBe('closed');
  });

  it('the official openai client sees an APIError 502, never a 401 about its own key', async () => {
    h = await startHarness({
      sim: { coder: { apiKey: KEY }, 'coder-fast': { apiKey: KEY } },
      patch: (e) => (e.name === 'coder' || e.name === 'coder-fast' ? { upstreamApiKey: WRONG } : {}),
    });
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.chat.completions
      .create({ model: 'coder', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('upstream_auth');
  });
});

describe('the load scraper against a keyed llama.cpp', () => {
  it('/metrics and /props are behind the key: refused without it, read with it', async () => {
    const s = await sim({ dialect: 'llamacpp', model: 'r1', apiKey: KEY });
    const file = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
    const endpoint = loadFleet(file, { env: { LLM_DEEPSEEK_R1_URL: s.url } }).endpoints.find(
      (e) => e.name === 'deepseek-r1',
    );
    if (!endpoint) throw new Error('the example fleet has deepseek-r1');
    const pools = scrapeDispatcher({ LLM_FLEET_LOOPBACK_ONLY: '1' }, 2_000);
    try {
      await expect(scrapeEngine(pools, endpoint, Date.now, undefined, 2_000)).rejects.toThrow(/401/);
      const reading = await scrapeEngine(
        pools,
        { ...endpoint, upstreamApiKey: KEY },
        Date.now,
        undefined,
        2_000,
      );
      expect(reading).toMatchObject({ running: 0, waiting: 0 });
    } finally {
      await pools.close();
    }
  });
});

describe('the monitor against a keyed server', () => {
  it('a request probe without the key gets 401: the server is up; with the key it answers 200', async () => {
    const s = await sim({ dialect: 'vllm', model: 'coder-model', apiKey: KEY });
    const file = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
    const loaded = loadFleet(file, { env: { LLM_CODER_URL: s.url } });
    const only = (key: string | undefined) => ({
      ...loaded,
      endpoints: loaded.endpoints
        .filter((e) => e.name === 'coder')
        .map((e) => ({ ...e, servedModel: 'coder-model', ...(key ? { upstreamApiKey: key } : {}) })),
    });
    for (const [key, status] of [
      [undefined, 401],
      [KEY, 200],
    ] as const) {
      const monitor = await startMonitor(only(key), {
        autoStart: false,
        requestProbeEvery: 1,
        fingerprintEvery: 0,
        env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
      });
      try {
        const results = await monitor.tick();
        const request = results.find((p) => p.kind === 'request');
        expect(request, JSON.stringify(results)).toMatchObject({ ok: true, status });
        expect(results.every((p) => p.ok)).toBe(true);
        expect(monitor.state.state('coder')).not.toBe('down');
      } finally {
        await monitor.stop();
      }
    }
  });
});
