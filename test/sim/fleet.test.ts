// startSimFleet on the example fleet: every routable endpoint on loopback, env lines, the fleet
// rewritten to the simulators, one seed for all; and the `llm-fleet sim` command end to end.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFleet } from '../../src/fleet/index.ts';
import type { SimFleet } from '../../src/sim/index.ts';
import { expectedCompletion, startSimFleet } from '../../src/sim/index.ts';
import { get, post } from './client.ts';

const FLEET = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
let sim: SimFleet;
beforeAll(async () => {
  sim = await startSimFleet(loadFleet(FLEET, { env: {} }), { seed: 4, latencyScale: 0.01 });
});
afterAll(async () => {
  await sim.close();
});

describe('startSimFleet', () => {
  it('starts every routable endpoint on loopback and rewrites the fleet to them', () => {
    expect([...sim.endpoints.keys()].sort()).toEqual(['coder', 'coder-fast', 'deepseek-r1', 'embeddings']);
    for (const e of sim.fleet.endpoints.filter((x) => x.status === 'running')) {
      expect(e.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(sim.env[e.env]).toBe(e.url);
    }
    expect(sim.fleet.endpoints.find((e) => e.name === 'small')?.status).toBe('planned');
  });

  it('each endpoint speaks its dialect with its context window, and all share the seed', async () => {
    const coder = sim.endpoints.get('coder');
    const models = JSON.parse((await get(`${coder?.url}/v1/models`)).text);
    expect(models.data[0]).toMatchObject({
      id: 'Qwen3-Coder-30B-A3B-Instruct AWQ-4bit',
      max_model_len: 65536,
    });
    expect((await get(`${sim.endpoints.get('deepseek-r1')?.url}/health`)).text).toBe('{"status":"ok"}');
    expect((await get(`${sim.endpoints.get('embeddings')?.url}/info`)).status).toBe(200);
    const messages = [{ role: 'user', content: 'same everywhere?' }];
    const a = JSON.parse((await post(`${coder?.url}/v1/chat/completions`, { messages })).text);
    const b = JSON.parse(
      (await post(`${sim.endpoints.get('coder-fast')?.url}/v1/chat/completions`, { messages })).text,
    );
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(a.choices[0].message.content).toBe(expectedCompletion({ seed: 4, messages }).content);
  });

  it('the reasoning endpoint thinks first; embeddings have the fleet dimension', async () => {
    const r1 = JSON.parse(
      (
        await post(`${sim.endpoints.get('deepseek-r1')?.url}/v1/chat/completions`, {
          messages: [{ role: 'user', content: 'why?' }],
          max_tokens: 500,
        })
      ).text,
    );
    expect(r1.choices[0].message.reasoning_content.length).toBeGreaterThan(0);
    const emb = JSON.parse(
      (await post(`${sim.endpoints.get('embeddings')?.url}/v1/embeddings`, { input: 'x' })).text,
    );
    expect(emb.data[0].embedding).toHaveLength(4096);
  });
});

describe('llm-fleet sim', () => {
  it('prints the URL map and env lines, serves, and stops cleanly on SIGTERM', async () => {
    const bin = fileURLToPath(new URL('../../bin/llm-fleet.js', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'sim', '--fleet', FLEET, '--only', 'coder,deepseek-r1', '--latency-scale', '0.01', '--json'],
      {
        env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const printed = await new Promise<{ env: Record<string, string> }>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          resolve(JSON.parse(out) as { env: Record<string, string> });
          clearInterval(timer);
        } catch {
          // not complete yet
        }
      }, 50);
      child.on('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`exited ${code}: ${err}`));
      });
    });
    expect(Object.keys(printed.env).sort()).toEqual(['LLM_CODER_URL', 'LLM_DEEPSEEK_R1_URL']);
    expect((await get(`${printed.env.LLM_CODER_URL}/health`)).status).toBe(200);
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(err).toContain('stopped');
  });

  it('a usage mistake exits 2 with a hint, no stack trace', async () => {
    const bin = fileURLToPath(new URL('../../bin/llm-fleet.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'sim', '--fleet', FLEET, '--only', 'nope'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('--only nope');
    expect(err).not.toContain('    at ');
  });
});

describe('faults and start-up from the fleet file', () => {
  it('endpoint sim.faults and sim.startup apply when the fleet is simulated', async () => {
    const { parseFleet } = await import('../../src/fleet/index.ts');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(FLEET, 'utf8').replace(
      '    notes: Mid-tier routing and classification\n',
      "    notes: Mid-tier routing and classification\n    sim:\n      faults: ['503:retry-after=2,first=1']\n      startup: 300ms\n",
    );
    const fleet = parseFleet(text, 'inline.fleet.yaml', { env: {} });
    expect(fleet.endpoints.find((e) => e.name === 'coder-fast')?.sim).toEqual({
      faults: ['503:retry-after=2,first=1'],
      startupMs: 300,
    });
    const s = await startSimFleet(fleet, { only: ['coder-fast'], latencyScale: 0.01 });
    try {
      const url = s.endpoints.get('coder-fast')?.url as string;
      await expect(get(`${url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await new Promise((r) => setTimeout(r, 400));
      const first = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x' }] });
      expect(first.status).toBe(503);
      expect(first.headers['retry-after']).toBe('2');
      expect(
        (await post(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x' }] })).status,
      ).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('a bad fault in the fleet file is a FleetError naming the field', async () => {
    const { parseFleet } = await import('../../src/fleet/index.ts');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(FLEET, 'utf8').replace(
      '    notes: Mid-tier routing and classification\n',
      "    notes: Mid-tier routing and classification\n    sim: { faults: 'explode' }\n",
    );
    await expect(
      startSimFleet(parseFleet(text, 'inline.fleet.yaml', { env: {} }), { only: ['coder-fast'] }),
    ).rejects.toMatchObject({
      code: 'sim_bad_fault',
      message: expect.stringContaining('endpoints.coder-fast.sim.faults'),
    });
  });
});
