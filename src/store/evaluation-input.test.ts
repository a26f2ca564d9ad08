import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import { evaluateFleet } from '../slo/evaluate.ts';
import { evaluationData } from './evaluation-input.ts';
import { SqliteStore } from './sqlite-store.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('evaluationData', () => {
  it('gives the evaluator the same verdict as full minute buckets, with far fewer rows', () => {
    const store = new SqliteStore({ path: ':memory:', fleet });
    // 40 days of traffic and probes, every 7 minutes, with slow requests and failed probes mixed in.
    const nowMs = Date.UTC(2026, 3, 14, 18, 30, 30); // mid-April, 11:30:30 in Los Angeles
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let t = nowMs - 40 * DAY; t < nowMs; t += 7 * MINUTE) {
      for (const endpoint of ['coder', 'coder-fast']) {
        const ttftMs = rand() < 0.1 ? 5000 : 300;
        const record: RequestRecord = {
          id: `${endpoint}-${t}`,
          source: 'gateway',
          operation: 'chat',
          route: 'auto',
          endpoint,
          startedAtMs: t,
          outcome: 'ok',
          status: 200,
          stream: true,
          attempts: [],
          ttftMs,
          decodeTokensPerSecond: 50 + rand() * 100,
          totalMs: ttftMs + 100,
        };
        store.write(record);
        store.writeProbe({ endpoint, kind: 'health', atMs: t, ok: rand() > 0.02, latencyMs: 1, detail: '' });
      }
    }
    store.flush();
    const sinceMs = nowMs - 9 * DAY - 17 * MINUTE - 5_000;
    const data = evaluationData(fleet, store, { sinceMs, nowMs });
    const full = store.sloBuckets({ fromMs: nowMs - 40 * DAY, toMs: nowMs + MINUTE });
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
    store.close();
  });
});
