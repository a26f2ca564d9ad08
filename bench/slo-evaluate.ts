// Cost of `evaluateFleet` (what `llm-fleet check` and `report` run) over 32 days of per-minute
// buckets for every objective of the example fleet — a fully busy fleet, every minute populated —
// against the baseline of the same run: one pass that groups every bucket by objective (no
// evaluator can do less than read its input once). Best of 7 runs each: the machine is shared.
// Run: node bench/slo-evaluate.ts [days]   (default 32, the lookback the store hands over)
import { loadFleet } from '../src/fleet/index.ts';
import type { MinuteBucket } from '../src/slo/index.ts';
import { evaluateFleet, reportedObjectivesFor } from '../src/slo/index.ts';

const DAYS = Number(process.argv[2] ?? 32);
const MIN = 60_000;
const NOW = Date.UTC(2026, 2, 31, 18, 0);
const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const objectives = reportedObjectivesFor(fleet).filter((o) => o.kind !== 'recovery');

const buckets: MinuteBucket[] = [];
let seed = 42;
const rand = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
for (let m = DAYS * 1440; m > 0; m--)
  for (const o of objectives) {
    const total = 1 + Math.floor(rand() * 20);
    buckets.push({
      endpoint: o.endpoint,
      objectiveId: o.id,
      minuteStartMs: NOW - m * MIN,
      good: total - (rand() < 0.05 ? 1 : 0),
      total,
    });
  }

function time<T>(fn: () => T, runs = 3): { ms: number; value: T } {
  let best = Infinity;
  let value: T | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = fn();
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: best, value: value as T };
}

const baseline = time(() => {
  // Reading the input once and grouping it by objective: the least any evaluator must do.
  const grouped = new Map<string, MinuteBucket[]>();
  for (const b of buckets) {
    const list = grouped.get(b.objectiveId);
    if (list) list.push(b);
    else grouped.set(b.objectiveId, [b]);
  }
  return grouped.size;
}, 7);
const evaluation = time(
  () => evaluateFleet(fleet, { buckets, incidents: [], nowMs: NOW, sinceMs: NOW - 7 * 1440 * MIN }),
  7,
);
const f = (ms: number): string => `${ms.toFixed(1)} ms`;
console.log(`buckets: ${buckets.length} (${objectives.length} objectives × ${DAYS} days × 1440 minutes)`);
console.log(`baseline, one grouping pass over all buckets: ${f(baseline.ms)}`);
console.log(
  `evaluateFleet (7-day range, burn windows, month and 30-day availability, triggers): ${f(evaluation.ms)}`,
);
console.log(`ratio: ${(evaluation.ms / baseline.ms).toFixed(1)}× the baseline`);
console.log(`fleet breach: ${evaluation.value.breach}`);
