import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { evaluateFleet } from '../slo/evaluate.ts';
import { record } from '../slo/test-data.ts';
import { evaluationData } from './evaluation-input.ts';
import { openSqliteStore } from './sqlite-store.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('evaluationData', () => {
  it('gives the evaluator the same verdict as full minute buckets, with far fewer rows', async () => {
    const store = await openSqliteStore({ path: ':memory:', fleet });
    // 40 days of traffic and probes, every 7 minutes, with slow requests and failed probes mixed in.
    const nowMs = Date.UTC(2026, 3, 14, 18, 30, 30); // mid-April, 11:30:30 in Los Angeles
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let t = nowMs - 40 * DAY; t < nowMs; t += 7 * MINUTE) {
      for (const endpoint of ['coder', 'coder-fast']) {
        const ttftMs = rand() < 0.1 ? 5000 : 300;
        store.write(
          record({
            id: `${endpoint}-${t}`,
            endpoint,
            startedAtMs: t,
            ttftMs,
            decodeTokensPerSecond: 50 + rand() * 100,
            totalMs: ttftMs + 100,
          }),
        );
        store.writeProbe({ endpoint, kind: 'health', atMs: t, ok: rand() > 0.02, latencyMs: 1, detail: '' });
      }
    }
    await store.flush();
    const sinceMs = nowMs - 9 * DAY - 17 * MINUTE - 5_000;
    const data = await evaluationData(fleet, store, { sinceMs, nowMs });
    const full = await store.sloBuckets({ fromMs: nowMs - 40 * DAY, toMs: nowMs + MINUTE });
    expect(data.buckets.length).toBeLessThan(full.length / 2);
    const coarse = evaluateFleet(fleet, data);
    const exact = evaluateFleet(fleet, { ...data, buckets: full });
    expect(coarse).toEqual(exact);
    // And the verdict is not trivially empty.
    const coderFast = coarse.endpoints.find((e) => e.endpoint === 'coder-fast');
    expect(
      coderFast?.objectives.find((o) => o.objective.kind === 'ttft-p95')?.measured.total,
    ).toBeGreaterThan(1000);
    expect(
      coderFast?.objectives.find((o) => o.objective.kind === 'availability')?.availability?.rolling30Days
        .total,
    ).toBeGreaterThan(500);
    await store.close();
  });

  it('keeps the verdict for any now and since, burn-rate alerts and triggers included', async () => {
    const store = await openSqliteStore({ path: ':memory:', fleet });
    const endMs = Date.UTC(2026, 3, 14, 18, 0);
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    // 35 days every 3 minutes, written in many batches so the hour and day rollups are updated in
    // place; the last 2 hours are slow and failing, so burn rates and sustained violations fire.
    let n = 0;
    for (let t = endMs - 35 * DAY; t < endMs; t += 3 * MINUTE) {
      const outage = t > endMs - 2 * 60 * MINUTE;
      const ttftMs = outage || rand() < 0.03 ? 9000 : 300;
      store.write(
        record({
          id: `coder-${t}`,
          endpoint: 'coder',
          startedAtMs: t + Math.floor(rand() * MINUTE),
          ttftMs,
          decodeTokensPerSecond: 50 + rand() * 100,
          totalMs: ttftMs + 100,
        }),
      );
      store.writeProbe({
        endpoint: 'coder',
        kind: 'health',
        atMs: t,
        ok: !outage && rand() > 0.01,
        latencyMs: 1,
        detail: '',
      });
      if (++n % 500 === 0) await store.flush();
    }
    await store.flush();
    let compared = 0;
    let alerts = 0;
    for (const nowMs of [endMs, endMs - 17_345, endMs - 26 * 60 * MINUTE + 1, endMs - 3 * DAY - 59_999])
      for (const sinceMs of [nowMs - 60 * MINUTE, nowMs - DAY - 5_000, nowMs - 7 * DAY, nowMs - 33 * DAY]) {
        const data = await evaluationData(fleet, store, { sinceMs, nowMs });
        const full = await store.sloBuckets({
          fromMs: Math.min(sinceMs, nowMs - 32 * DAY),
          toMs: nowMs + MINUTE,
        });
        expect(data.buckets.length).toBeLessThan(full.length / 10);
        const coarse = evaluateFleet(fleet, data);
        expect(coarse).toEqual(evaluateFleet(fleet, { ...data, buckets: full }));
        const coder = coarse.endpoints.find((e) => e.endpoint === 'coder');
        alerts +=
          coder?.objectives.filter((o) => o.burn !== undefined && o.burn.firing !== 'none').length ?? 0;
        alerts += coder?.triggers.length ?? 0;
        compared += 1;
      }
    expect(compared).toBe(16);
    // The outage shows in the verdicts compared, so the burn windows' edges were put to the test.
    expect(alerts).toBeGreaterThan(0);
    await store.close();
  });
});
