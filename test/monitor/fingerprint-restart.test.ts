// A model swapped during a restart is found when the endpoint comes back, not at the next
// scheduled fingerprint read (every 40 rounds, ten minutes at 15 s).
import { afterEach, describe, expect, it } from 'vitest';
import type { Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { startMonitor } from '../../src/probes/monitor.ts';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';

let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function vllm(model: string, port = 0): Promise<SimServer> {
  const s = await startSimEndpoint({ dialect: 'vllm', model, port, latency: { scale: 0.01 } });
  servers.push(s);
  return s;
}

describe('fingerprint after a restart', () => {
  for (const [name, failedChecks] of [
    ['a restart long enough to mark it down', 3],
    ['a restart quicker than the down threshold', 1],
  ] as const) {
    it(`${name}: the new model is read on the first healthy check`, async () => {
      const before = await vllm('Qwen3-Coder-30B-A3B-Instruct AWQ-4bit');
      const loaded = loadFleet('examples/onex.fleet.yaml', { env: { LLM_CODER_URL: before.url } });
      const fleet: Fleet = { ...loaded, endpoints: loaded.endpoints.filter((e) => e.name === 'coder') };
      let now = Date.UTC(2026, 0, 5, 12);
      const store = await openSqliteStore({ path: ':memory:', fleet });
      const monitor = await startMonitor(fleet, {
        clock: () => now,
        autoStart: false,
        requestProbeEvery: 0,
        fingerprintEvery: 40,
        downAfter: 2,
        store,
      });
      try {
        await monitor.tick();
        expect((await store.observedFingerprints())[0]?.model).toBe('Qwen3-Coder-30B-A3B-Instruct AWQ-4bit');
        const port = before.port;
        await before.close();
        for (let i = 0; i < failedChecks; i++) {
          now += 15_000;
          await monitor.tick();
        }
        expect(monitor.state.state('coder')).toBe(failedChecks >= 2 ? 'down' : 'up');
        // The same port, another model: a swap during the restart.
        await vllm('Qwen3-Coder-30B-A3B-Instruct AWQ-8bit', port);
        now += 15_000;
        await monitor.tick();
        const latest = await store.observedFingerprints();
        expect(latest[0]?.model).toBe('Qwen3-Coder-30B-A3B-Instruct AWQ-8bit');
        expect(latest[0]?.atMs).toBe(now);
        // Healthy and unchanged afterwards: no re-read until the scheduled one.
        now += 15_000;
        await monitor.tick();
        expect((await store.observedFingerprints())[0]?.atMs).toBe(now - 15_000);
      } finally {
        await monitor.stop();
        await store.close();
      }
    });
  }
});
