// The monitor against simulated endpoints over real HTTP on loopback. Time inside the monitor is a
// virtual clock advanced by one minute per probe round, so recovery objectives of 3–10 minutes are
// judged deterministically in seconds of real time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/fleet/index.ts';
import { observeFingerprint } from '../../src/probes/fingerprint.ts';
import { startMonitor } from '../../src/probes/monitor.ts';
import { probeRequest } from '../../src/probes/request-probe.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SimExample } from './sim-fleet.ts';
import { startSimExample } from './sim-fleet.ts';

const MINUTE = 60_000;
// Tue 2026-03-03 10:00 in Los Angeles (business hours).
const T0 = Date.UTC(2026, 2, 3, 18, 0, 0);

let sim: SimExample;
let dir: string;
beforeAll(async () => {
  sim = await startSimExample();
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-monitor-'));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

function virtualClock() {
  let now = T0;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** Runs one round per character: '+' endpoint up, '-' endpoint refused, a minute apart. */
async function drive(
  monitor: Awaited<ReturnType<typeof startMonitor>>,
  clock: ReturnType<typeof virtualClock>,
  endpoint: string,
  pattern: string,
): Promise<string[]> {
  const states: string[] = [];
  let healthy = true;
  for (const c of pattern) {
    const want = c === '+';
    if (want !== healthy) {
      await sim.setFaults(endpoint, want ? [] : [{ kind: 'down' }], want);
      healthy = want;
    }
    await monitor.tick();
    states.push(monitor.state.state(endpoint));
    clock.advance(MINUTE);
  }
  return states;
}

async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find(
    (v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return value?.value ?? 0;
}

describe('monitor against simulated endpoints', () => {
  it('does not flap on a lost probe: one refused probe between successes opens no incident', async () => {
    const clock = virtualClock();
    const monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
    });
    try {
      const states = await drive(monitor, clock, 'coder', '++-++-+');
      expect(states).toEqual(['up', 'up', 'up', 'up', 'up', 'up', 'up']);
      expect(monitor.state.incidents()).toEqual([]);
    } finally {
      await monitor.stop();
    }
  });

  it('judges outages shorter and longer than the recovery objective (coder: 5 min)', async () => {
    const clock = virtualClock();
    const store = await openSqliteStore({ path: ':memory:', fleet: sim.fleet });
    const registry = new Registry();
    const monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
      store,
      registry,
    });
    try {
      // 3 minutes down (minutes 1..3, back at minute 4), then 7 minutes down (6..12, back at 13).
      const states = await drive(monitor, clock, 'coder', '+---++-------++');
      expect(states.slice(0, 5)).toEqual(['up', 'up', 'down', 'down', 'down']);
      expect(states.at(-1)).toBe('up');
      const incidents = await store.incidents({ fromMs: T0, toMs: T0 + 60 * MINUTE }, 'coder');
      expect(
        incidents.map((i) => [(i.startedAtMs - T0) / MINUTE, ((i.endedAtMs ?? 0) - T0) / MINUTE]),
      ).toEqual([
        [1, 4],
        [6, 13],
      ]);
      expect(incidents[0]).toMatchObject({ cause: 'connect_refused', recoveryMs: 5 * MINUTE });
      expect(
        await metricValue(registry, 'llm_slo_recovery_episodes_total', {
          endpoint: 'coder',
          outcome: 'within',
        }),
      ).toBe(1);
      expect(
        await metricValue(registry, 'llm_slo_recovery_episodes_total', {
          endpoint: 'coder',
          outcome: 'exceeded',
        }),
      ).toBe(1);
      expect(await metricValue(registry, 'llm_fleet_endpoint_up', { endpoint: 'coder' })).toBe(1);
      // Availability events: 15 probes in business hours, 10 of them refused.
      expect(
        await metricValue(registry, 'llm_slo_events_total', { slo: 'coder-availability', outcome: 'bad' }),
      ).toBe(10);
      expect(
        await metricValue(registry, 'llm_slo_events_total', { slo: 'coder-availability', outcome: 'good' }),
      ).toBe(5);
      await store.flush();
      expect(
        await store.objectiveCounts('coder-availability', { fromMs: T0, toMs: T0 + 60 * MINUTE }),
      ).toMatchObject({
        good: 5,
        valid: 15,
      });
    } finally {
      await monitor.stop();
      await store.close();
    }
  });

  it('exposes the current down streak in seconds', async () => {
    const clock = virtualClock();
    const registry = new Registry();
    const monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
      registry,
    });
    try {
      await drive(monitor, clock, 'coder-fast', '+---');
      // Last probe at minute 3; the streak began at minute 1.
      expect(await metricValue(registry, 'llm_fleet_endpoint_down_seconds', { endpoint: 'coder-fast' })).toBe(
        120,
      );
      expect(await metricValue(registry, 'llm_fleet_endpoint_up', { endpoint: 'coder-fast' })).toBe(0);
      expect(monitor.state.degradedHosts()).toEqual(['gpu-server']);
    } finally {
      await sim.setFaults('coder-fast', [], true);
      await monitor.stop();
    }
  });

  it('survives a restart mid-incident: the reopened store resumes the open incident and closes it', async () => {
    const path = join(dir, 'restart.db');
    const clock = virtualClock();
    let store = await openSqliteStore({ path, fleet: sim.fleet });
    let monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
      store,
    });
    await drive(monitor, clock, 'embeddings', '+--');
    expect(monitor.state.state('embeddings')).toBe('down');
    await monitor.stop();
    await store.close();

    // A new process: new store handle, new monitor, new state.
    store = await openSqliteStore({ path, fleet: sim.fleet });
    monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
      store,
    });
    try {
      expect(monitor.state.state('embeddings')).toBe('down');
      expect(await store.openIncidents()).toMatchObject([
        { endpoint: 'embeddings', startedAtMs: T0 + MINUTE },
      ]);
      await sim.setFaults('embeddings', [], true);
      await drive(monitor, clock, 'embeddings', '++');
      expect(monitor.state.state('embeddings')).toBe('up');
      expect(await store.openIncidents()).toEqual([]);
      const [incident] = await store.incidents({ fromMs: T0, toMs: T0 + 60 * MINUTE }, 'embeddings');
      // Started before the restart (minute 1), ended at the first success after it (minute 3).
      expect(incident).toMatchObject({
        startedAtMs: T0 + MINUTE,
        endedAtMs: T0 + 3 * MINUTE,
        recoveryMs: 3 * MINUTE,
      });
    } finally {
      await monitor.stop();
      await store.close();
    }
  });

  it('a reasoning model needs more tokens: 16 max_tokens never reach content, the default budget does', async () => {
    const r1 = sim.fleet.endpoints.find((e) => e.name === 'deepseek-r1') as Endpoint;
    const short = await probeRequest(r1, { timeoutMs: 20_000, maxTokens: 16 });
    expect(short).toMatchObject({ ok: false, cause: 'empty_answer', status: 200 });
    expect(short.detail).toContain('reasoning used all 16 max_tokens');
    const full = await probeRequest(r1, { timeoutMs: 20_000 });
    expect(full).toMatchObject({ ok: true, status: 200 });
  });

  it('a healthy /health does not hide an endpoint that cannot answer: the real request marks it down', async () => {
    const clock = virtualClock();
    const monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 1,
      requestMaxTokens: 16,
    });
    try {
      await monitor.tick();
      clock.advance(MINUTE);
      await monitor.tick();
      expect(monitor.state.state('deepseek-r1')).toBe('down');
      expect(monitor.state.openIncident('deepseek-r1')).toMatchObject({ cause: 'empty_answer' });
      expect(monitor.state.state('coder')).toBe('up');
    } finally {
      await monitor.stop();
    }
  });

  it('probes the embeddings endpoint with a real embeddings request', async () => {
    const e = sim.fleet.endpoints.find((x) => x.name === 'embeddings') as Endpoint;
    const r = await probeRequest(e, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: true, kind: 'request' });
    expect(r.detail).toMatch(/embedding of dimension \d+/);
  });

  it('runs on its own interval when started', async () => {
    const seen: string[] = [];
    const monitor = await startMonitor(sim.fleet, {
      intervalMs: 50,
      requestProbeEvery: 0,
      onProbe: (p) => seen.push(p.endpoint),
    });
    try {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (seen.filter((s) => s === 'coder').length >= 3) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      expect(monitor.state.state('coder')).toBe('up');
    } finally {
      await monitor.stop();
    }
  });

  it('reads what each server reports about itself, and the monitor stores only changes', async () => {
    for (const name of ['coder', 'deepseek-r1', 'embeddings']) {
      const e = sim.fleet.endpoints.find((x) => x.name === name) as Endpoint;
      const f = await observeFingerprint(sim.fleet, e, { timeoutMs: 5000 });
      expect(f.model, name).toBe(e.servedModel);
      expect(f.serverVersion, name).toMatch(/^(vllm|llama\.cpp|tei) \S+/);
      expect(f.hostHardware, name).toContain(e.hardware ?? '');
    }
    const clock = virtualClock();
    const store = await openSqliteStore({ path: ':memory:', fleet: sim.fleet });
    const monitor = await startMonitor(sim.fleet, {
      clock: clock.now,
      autoStart: false,
      requestProbeEvery: 0,
      fingerprintEvery: 1,
      store,
    });
    try {
      await monitor.tick();
      clock.advance(MINUTE);
      await monitor.tick();
      const observed = await store.observedFingerprints();
      expect(observed.map((f) => f.endpoint).sort()).toEqual([
        'coder',
        'coder-fast',
        'deepseek-r1',
        'embeddings',
      ]);
      // Unchanged on the second round: still the first round's record.
      expect(observed.every((f) => f.atMs === T0)).toBe(true);
    } finally {
      await monitor.stop();
      await store.close();
    }
  });
});
