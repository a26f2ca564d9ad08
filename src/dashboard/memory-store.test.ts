// The in-process store answers from hourly copies and per-day sums where it can; these must give the
// very numbers the per-minute aggregates give, or the dashboard would disagree with itself.
import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import { countsIn } from '../slo/index.ts';
import { createMemoryStore } from './memory-store.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const NOW = Date.UTC(2026, 2, 31, 18, 7);
const DAY = 86_400_000;

function filled(): ReturnType<typeof createMemoryStore> {
  const store = createMemoryStore(fleet);
  let seed = 3;
  const rand = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < 20_000; i++) {
    const ttftMs = 200 + rand() * 3000;
    const record: RequestRecord = {
      id: `r${i}`,
      source: 'gateway',
      operation: 'chat',
      route: 'code',
      endpoint: 'coder',
      startedAtMs: NOW - 10 * DAY + Math.floor(rand() * 10 * DAY),
      outcome: rand() < 0.02 ? 'timeout' : 'ok',
      status: 200,
      stream: true,
      attempts: [],
      ttftMs,
      decodeTokensPerSecond: 30 + rand() * 100,
      totalMs: ttftMs + 1000,
    };
    store.write(record);
  }
  return store;
}

describe('memory store', () => {
  const store = filled();

  it('gives the same sums from coarse per-day buckets as from minutes, over ranges cut at the edges', () => {
    const fromMs = NOW - 9 * DAY - 17 * 60_000;
    const toMs = NOW - DAY + 23 * 60_000;
    const cuts = [NOW - 5 * DAY - 31 * 60_000, NOW - 2 * DAY];
    const coarse = store.sloBucketsCoarse({ fromMs, toMs }, cuts);
    const fine = store.sloBuckets({ fromMs, toMs });
    expect(coarse.length).toBeLessThan(fine.length / 50);
    for (const id of ['coder-ttft-p95', 'coder-throughput-sustained'])
      for (const [a, b] of [
        [fromMs, toMs],
        [fromMs, cuts[0]!],
        [cuts[0]!, cuts[1]!],
        [cuts[1]!, toMs],
      ] as const) {
        const minute = (t: number): number => Math.ceil(t / 60_000) * 60_000;
        expect(countsIn(coarse, id, minute(a), minute(b)), `${id} ${a}..${b}`).toEqual(
          countsIn(fine, id, minute(a), minute(b)),
        );
      }
  });

  it('aggregates series from hours and minutes to the same counts as minute by minute', () => {
    const query = { fromMs: NOW - 7 * DAY - 13 * 60_000, toMs: NOW, stepMs: 7 * DAY + 13 * 60_000 };
    const [whole] = store.series('coder', query);
    const byMinute = store.series('coder', { ...query, stepMs: 60_000 });
    expect(whole?.requests).toBe(byMinute.reduce((n, p) => n + p.requests, 0));
    expect(whole?.errors).toBe(byMinute.reduce((n, p) => n + p.errors, 0));
    expect(whole?.errors).toBeGreaterThan(0);
    const counts = store.objectiveCounts('coder-ttft-p95', query);
    const fine = countsIn(store.sloBuckets(query), 'coder-ttft-p95', query.fromMs, query.toMs);
    expect({ good: counts?.good, valid: counts?.valid }).toEqual({ good: fine.good, valid: fine.total });
  });
});
