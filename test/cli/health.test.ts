// `llm-fleet health` with the example fleet's env vars pointed at closed loopback ports (refused,
// reported cleanly) and at simulated servers (healthy, and one loading).
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';
import type { SimServer } from '../../src/sim/endpoint.ts';
import { startSimEndpoint } from '../../src/sim/endpoint.ts';

const FLEET = ['-f', 'examples/onex.fleet.yaml'];
const VARS = ['LLM_CODER_URL', 'LLM_CODER_FAST_URL', 'LLM_EMBEDDING_URL', 'LLM_DEEPSEEK_R1_URL'];

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const run = (args: string[], env: NodeJS.ProcessEnv) =>
  runCli(args, { LLM_FLEET_LOOPBACK_ONLY: '1', ...env });

let sims: SimServer[] = [];
beforeAll(async () => {
  sims = await Promise.all([
    startSimEndpoint({ dialect: 'vllm', model: 'Qwen3-Coder-30B-A3B-Instruct AWQ-4bit' }),
    startSimEndpoint({ dialect: 'vllm', model: 'Qwen3-14B-AWQ' }),
    startSimEndpoint({ dialect: 'tei', model: 'Qwen3-Embedding-8B-4bit', kind: 'embeddings' }),
    // llama.cpp answers 503 "Loading model" while it loads: far longer than this test.
    startSimEndpoint({
      dialect: 'llamacpp',
      model: 'DeepSeek-R1-Distill-Qwen-32B-bf16',
      reasoning: true,
      startupMs: 600_000,
    }),
  ]);
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

describe('llm-fleet health', () => {
  it('reports refused connections cleanly and exits 1; the planned endpoint is not a failure', async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const v of VARS) env[v] = `http://127.0.0.1:${await closedPort()}`;
    const r = await run(['health', ...FLEET], env);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    expect(r.out.match(/unhealthy \(connect_refused\)/g)).toHaveLength(4);
    expect(r.out).toMatch(/small\s+│ LLM_SMALL_URL\s+│ —\s+│ planned/);
    expect(r.out).toContain('4 of 4 routable endpoints unhealthy');
  });

  it('judges each server by its own semantics over real HTTP (--json)', async () => {
    const env = Object.fromEntries(VARS.map((v, i) => [v, sims[i]?.url]));
    const r = await run(['health', ...FLEET, '--json', '--timeout', '5s'], env);
    const result = JSON.parse(r.out);
    const by = Object.fromEntries(result.endpoints.map((e: { endpoint: string }) => [e.endpoint, e]));
    expect(by.coder).toMatchObject({ status: 'healthy', httpStatus: 200, detail: '200, empty body' });
    expect(by.embeddings).toMatchObject({ status: 'healthy', httpStatus: 200 });
    expect(by['deepseek-r1']).toMatchObject({ status: 'unhealthy', cause: 'loading', httpStatus: 503 });
    expect(by.small).toMatchObject({ status: 'planned', url: null });
    expect(result.healthy).toBe(false);
    expect(r.code).toBe(1);
  });

  it('exits 0 when every routable endpoint is healthy', async () => {
    const env = Object.fromEntries(VARS.map((v, i) => [v, sims[i === 3 ? 0 : i]?.url]));
    const r = await run(['health', ...FLEET], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain('all 4 routable endpoints healthy');
  });

  it('never dials the seed addresses: without overrides the guard refuses them', async () => {
    const r = await run(['health', ...FLEET, '--json'], {});
    const result = JSON.parse(r.out);
    expect(result.endpoints.filter((e: { cause?: string }) => e.cause === 'loopback_only')).toHaveLength(4);
  });

  it('rejects a bad --timeout with exit 2', async () => {
    const r = await run(['health', ...FLEET, '--timeout', 'soon'], {});
    expect(r.code).toBe(2);
  });
});
