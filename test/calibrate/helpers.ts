// Shared set-up for calibrate/bench tests: the example fleet with simulators on loopback.
import { readFileSync } from 'node:fs';
import type { Fleet } from '../../src/fleet/index.ts';
import { parseFleet } from '../../src/fleet/index.ts';
import type { SimFleetOptions, SimRequestTruth } from '../../src/sim/index.ts';
import { startSimFleet } from '../../src/sim/index.ts';

export const EXAMPLE_PATH = new URL('../../examples/onex.fleet.yaml', import.meta.url);
export const EXAMPLE_TEXT = readFileSync(EXAMPLE_PATH, 'utf8');

export function exampleFleet(): Fleet {
  return parseFleet(EXAMPLE_TEXT, 'examples/onex.fleet.yaml', { env: {} });
}

/** Simulators for some endpoints of the example fleet, 100× faster than the seed's figures. */
export function simFleet(only: string[], opts: SimFleetOptions = {}) {
  return startSimFleet(exampleFleet(), { only, latencyScale: 0.01, includePlanned: true, ...opts });
}

export const isInference = (t: SimRequestTruth): boolean =>
  t.path.includes('/chat/completions') || t.path.includes('/embeddings');

/** calibrate's rounds of concurrent embeddings batches (the aggregate embeddings/s), by request id. */
export const isConcurrentRound = (t: SimRequestTruth): boolean =>
  t.clientRequestId?.endsWith('-concurrent') === true;

/** The single-request load the seed's procedure measures at (everything but the concurrent rounds). */
export const isSingleRequest = (t: SimRequestTruth): boolean => isInference(t) && !isConcurrentRound(t);

/** True when no two [arrival, end] intervals overlap. */
export function noOverlap(truths: readonly SimRequestTruth[]): boolean {
  const spans = truths
    .map((t) => [t.arrivalMs, t.endAtMs ?? t.arrivalMs] as const)
    .sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++)
    if ((spans[i] as readonly [number, number])[0] < (spans[i - 1] as readonly [number, number])[1])
      return false;
  return true;
}
