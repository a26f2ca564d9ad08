// The aggregate embeddings/s objective through the gateway and a simulated TEI: concurrent batches
// of 32 share TEI's batches, so the endpoint serves many more inputs per busy second than any one
// request shows. Bounded by ground truth (what the simulator really did), not by the machine's speed:
// the gateway's busy time can only be longer than the server's, and the floor is set from the
// server's own rate.
import { afterEach, describe, expect, it } from 'vitest';
import type { Fleet } from '../../src/fleet/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import type { SimRequestTruth } from '../../src/sim/truth.ts';
import { evaluateFleet, foldRecords } from '../../src/slo/index.ts';
import type { ObjectiveVerdict } from '../../src/slo/index.ts';
import type { Harness } from './harness.ts';
import { startHarness } from './harness.ts';
import { serverBusyMs } from '../support/server-busy.ts';

const ROUNDS = 3;
const CONCURRENT = 8;
const BATCH = 32;
/** A TEI batch: 300 ms fixed + 1 ms per input (so the gateway's own work is small beside it). */
const HEALTHY = { scale: 1, embeddingOverheadMs: 300, embeddingMsPerInput: 1 };
/** Thermally throttled: every input four times slower. */
const THROTTLED = { ...HEALTHY, embeddingMsPerInput: 4, embeddingOverheadMs: 1200 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function run(latency: typeof HEALTHY): Promise<Harness> {
  h = await startHarness({ sim: { embeddings: { latency } } });
  const url = h.url;
  for (let round = 0; round < ROUNDS; round++)
    await Promise.all(
      Array.from({ length: CONCURRENT }, async (_, k) => {
        const res = await fetch(`${url}/v1/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'embedding',
            encoding_format: 'base64',
            input: Array.from({ length: BATCH }, (_, i) => `doc ${round}.${k}.${i}`),
          }),
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }),
    );
  return h;
}

/** Inputs per second of the server's own busy time: the union of its requests' [arrival, end]. */
function serverRate(truth: readonly SimRequestTruth[]): { rate: number; batchesShared: boolean } {
  const spans = truth.filter((t) => t.endAtMs !== undefined && (t.inputs ?? 0) >= BATCH);
  const busyMs = serverBusyMs(spans);
  const inputs = truth.reduce((n, t) => n + (t.inputs ?? 0), 0);
  // TEI put several requests into one batch: some request waited less than a whole batch alone.
  const alone = HEALTHY.embeddingOverheadMs + BATCH * HEALTHY.embeddingMsPerInput;
  return { rate: (inputs * 1000) / busyMs, batchesShared: spans.length * alone > busyMs * 1.5 };
}

function withFloor(fleet: Fleet, perSecond: number): Fleet {
  return {
    ...fleet,
    endpoints: fleet.endpoints.map((e) =>
      e.name === 'embeddings'
        ? { ...e, slo: { ...e.slo, throughput: { ...e.slo.throughput, embeddingsPerSecond: perSecond } } }
        : e,
    ),
  };
}

function judge(fleet: Fleet, records: readonly RequestRecord[]): ObjectiveVerdict {
  const times = records.map((r) => r.startedAtMs);
  const nowMs = Math.max(...times) + 60_000;
  const v = evaluateFleet(fleet, {
    buckets: foldRecords(fleet, records),
    incidents: [],
    nowMs,
    sinceMs: Math.min(...times) - 60_000,
  });
  const o = v.endpoints.flatMap((e) => e.objectives).find((x) => x.objective.kind === 'embeddings-rate');
  if (!o) throw new Error('no embeddings-rate verdict');
  return o;
}

describe('aggregate embeddings rate through the gateway', () => {
  it(
    'a healthy TEI meets a floor its batches reach only together; a throttled one breaches it',
    { timeout: 120_000 },
    async () => {
      const healthy = await run(HEALTHY);
      const truth = serverRate(healthy.sims.embeddings?.groundTruth() ?? []);
      expect(truth.batchesShared).toBe(true);
      // The floor: half what the server really served per busy second.
      const floor = Math.round(truth.rate / 2);
      const fleet = withFloor(healthy.fleet, floor);
      const records = [...healthy.records];
      expect(records).toHaveLength(ROUNDS * CONCURRENT);
      // Judged per request, every batch would miss the floor: each took far longer than 32 / floor.
      for (const r of records) expect(((r.inputCount ?? 0) * 1000) / (r.ttftMs ?? 1)).toBeLessThan(floor);
      const ok = judge(fleet, records);
      expect(ok.verdict).toBe('ok');
      // The gateway's busy time holds the server's (it sends before and reads after): never a higher rate.
      expect(ok.aggregate?.units).toBe(ROUNDS * CONCURRENT * BATCH);
      expect(ok.aggregate?.ratePerSecond ?? Infinity).toBeLessThanOrEqual(truth.rate * 1.01);
      await healthy.close();
      h = undefined;

      const throttled = await run(THROTTLED);
      const slow = judge(withFloor(throttled.fleet, floor), throttled.records);
      // The server itself served under the floor, so the verdict must be a breach.
      expect(serverRate(throttled.sims.embeddings?.groundTruth() ?? []).rate).toBeLessThan(floor);
      expect(slow.verdict).toBe('breach');
      expect(slow.reason).toContain(`(aggregate; floor ${floor}/s)`);
    },
  );

  it('counts a single query neither for inputs nor for busy time', { timeout: 60_000 }, async () => {
    const harness = await run(HEALTHY);
    const res = await fetch(`${harness.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'embedding', input: 'one query' }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const single = harness.records.find((r) => r.inputCount === 1);
    expect(single?.busyMs).toBeUndefined();
    const metrics = await (await fetch(`${harness.url}/metrics`)).text();
    const units =
      /llm_slo_rate_units_total\{slo="embeddings-embeddings-rate",endpoint="embeddings"\} (\d+)/.exec(
        metrics,
      );
    expect(Number(units?.[1])).toBe(ROUNDS * CONCURRENT * BATCH);
    const busy =
      /llm_slo_rate_busy_seconds_total\{slo="embeddings-embeddings-rate",endpoint="embeddings"\} ([\d.e-]+)/.exec(
        metrics,
      );
    const recorded = harness.records.reduce((s, r) => s + (r.busyMs ?? 0), 0);
    expect(Number(busy?.[1])).toBeCloseTo(recorded / 1000, 6);
  });
});
