// The time a simulated server was busy: the union of its requests' [arrival, end] in the ground
// truth, from the same interval union the gateway keeps (src/measure/busy-union.ts, tested there).
import { BusyUnion } from '../../src/measure/busy-union.ts';
import type { SimRequestTruth } from '../../src/sim/truth.ts';

export function serverBusyMs(truths: readonly SimRequestTruth[]): number {
  const union = new BusyUnion(Infinity);
  for (const t of truths) union.add(t.arrivalMs, t.endAtMs ?? t.arrivalMs);
  return union.coveredMs;
}
