// Busy is not down, from the client's side: the simulated coder-fast runs one sequence at a time and
// other clients (straight to the engine, as a shared server has) hold it and queue behind it. Its
// /health answers, its /metrics report the queue, and the monitor's real request probe times out
// waiting. With the hook `serve` wires (`saturatedBy(gateway)`: the gateway's load view, fed by the
// engine scrape), that timeout is load: no incident, no bad availability event, nothing for the
// recovery objective. With the hook off the same probes open an incident: the control that shows the
// scenario really times the probes out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { saturatedBy } from '../../src/cli/stack.ts';
import type { Fleet } from '../../src/fleet/index.ts';
import { startMonitor, type Monitor } from '../../src/probes/monitor.ts';
import type { ProbeResult } from '../../src/probes/types.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';
import type { SqlStore } from '../../src/store/sql-store.ts';
import { startHarness, TEST_TIMEOUTS, type Harness } from '../gateway/harness.ts';

const MINUTE = 60_000;
// Tue 2026-03-03 10:00 in Los Angeles (inside the availability objective's business hours).
const T0 = Date.UTC(2026, 2, 3, 18, 0, 0);
/** The request probe's budget on the busy endpoint: far less than the held sequence takes. */
const PROBE_MS = 600;

let h: Harness | undefined;
let monitor: Monitor | undefined;
let store: SqlStore | undefined;
let dir: string | undefined;
/** Ends the other clients' requests (they would hold the engine for many seconds more). */
let release = new AbortController();
afterEach(async () => {
  await monitor?.stop();
  await store?.close();
  release.abort();
  release = new AbortController();
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  h = monitor = store = dir = undefined;
});

/** Another client's request straight to the engine (the gateway neither sees nor counts it). */
function direct(url: string, model: string, content: string, maxTokens: number): void {
  const body = {
    model,
    messages: [{ role: 'user', content }],
    max_tokens: maxTokens,
    ignore_eos: true,
  };
  void fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: release.signal,
  })
    .then((r) => r.text())
    .catch(() => undefined);
}

async function busyEngine(withHook: boolean): Promise<ProbeResult[]> {
  h = await startHarness({
    sim: { 'coder-fast': { latency: { scale: 0.2, maxNumSeqs: 1 } } },
    load: { scrapeIntervalMs: 40, staleAfterMs: 400 },
  });
  const sim = h.sims['coder-fast'];
  if (!sim) throw new Error('no coder-fast sim');
  // The monitor probes coder-fast alone, its request probe bounded well below the held sequence.
  const fleet: Fleet = {
    ...h.fleet,
    endpoints: h.fleet.endpoints
      .filter((e) => e.name === 'coder-fast')
      .map((e) => ({ ...e, timeouts: { ...TEST_TIMEOUTS, totalTimeoutMs: PROBE_MS } })),
  };
  dir = mkdtempSync(join(tmpdir(), 'llm-fleet-saturated-'));
  store = await openSqliteStore({ path: join(dir, 'fleet.db'), fleet: h.fleet });
  let now = T0;
  const probes: ProbeResult[] = [];
  monitor = await startMonitor(fleet, {
    store,
    clock: () => now,
    autoStart: false,
    requestProbeEvery: 1,
    fingerprintEvery: 0,
    timeoutMs: 500,
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    onProbe: (p) => probes.push(p),
    ...(withHook ? { saturated: saturatedBy(h.gateway) } : {}),
  });
  // One request holds the only sequence for seconds; one more waits behind it the whole time.
  const coderFast = h.fleet.endpoints.find((e) => e.name === 'coder-fast');
  if (!coderFast) throw new Error('no coder-fast');
  const model = coderFast.servedModel;
  direct(sim.url, model, 'holds the only sequence', 6000);
  direct(sim.url, model, 'waits behind it', 6000);
  // Wait for the engine's own report of the queue (the scrape), not for a fixed time.
  for (let i = 0; i < 200 && !h.gateway.context.load.view.load(coderFast).saturated; i++)
    await new Promise((r) => setTimeout(r, 10));
  expect(h.gateway.context.load.view.load(coderFast).engine?.waiting).toBeGreaterThan(0);
  for (let round = 0; round < 3; round++) {
    await monitor.tick();
    now += MINUTE;
  }
  await store.flush();
  return probes;
}

describe('the monitor on a healthy, saturated engine (simulated vLLM, one sequence, a queue)', () => {
  it('with the saturated hook: its request probes time out as load; no incident, availability untouched', async () => {
    const probes = await busyEngine(true);
    const requests = probes.filter((p) => p.kind === 'request');
    expect(requests).toHaveLength(3);
    for (const p of requests) expect(p).toMatchObject({ ok: false, cause: 'saturated' });
    expect(probes.filter((p) => p.kind === 'health').every((p) => p.ok)).toBe(true);
    expect(monitor?.state.state('coder-fast')).toBe('up');
    expect(monitor?.state.incidents()).toEqual([]);
    const range = { fromMs: T0, toMs: T0 + 10 * MINUTE };
    expect(await store?.incidents(range)).toEqual([]);
    // Availability: every event good (the health checks), none for the saturated timeouts.
    const events = (await store?.sloBuckets(range, ['coder-fast-availability'])) ?? [];
    expect(events.reduce((n, b) => n + b.total, 0)).toBe(3);
    expect(events.reduce((n, b) => n + b.good, 0)).toBe(3);
    const availability = await store?.availability('coder-fast', { ...range, stepMs: 10 * MINUTE });
    expect(availability?.reduce((n, p) => n + p.probes - p.ok, 0)).toBe(0);
  });

  it('with the hook off (the control), the same timeouts mark the busy endpoint down and open an incident', async () => {
    await busyEngine(false);
    expect(monitor?.state.state('coder-fast')).toBe('down');
    const incidents = monitor?.state.incidents() ?? [];
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ endpoint: 'coder-fast', cause: 'timeout' });
    const events =
      (await store?.sloBuckets({ fromMs: T0, toMs: T0 + 10 * MINUTE }, ['coder-fast-availability'])) ?? [];
    expect(events.reduce((n, b) => n + b.total - b.good, 0)).toBeGreaterThan(0);
  });
});
