// Objectives per replica of a pool: the endpoint's request objectives (TTFT, decode, burst,
// embeddings rate) judged over each server's own requests, by the same evaluator and targets as the
// endpoint's — a breakdown beside the endpoint's headline verdict, not a second verdict (availability
// and recovery stay the endpoint's: a pool is up while one server is). Pure: records in, verdicts out.
import type { Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import { foldRecords } from './buckets.ts';
import { evaluateFleet, samplesFromRecords, type ObjectiveVerdict } from './evaluate.ts';

export interface ReplicaVerdict {
  readonly endpoint: string;
  readonly replica: string;
  /** Requests this replica answered in range. */
  readonly requests: number;
  readonly objectives: readonly ObjectiveVerdict[];
}

/** Each pool's replicas judged on the records they served (records without a replica are skipped). */
export function replicaVerdicts(
  fleet: Fleet,
  records: readonly RequestRecord[],
  range: { readonly sinceMs: number; readonly nowMs: number },
): ReplicaVerdict[] {
  const out: ReplicaVerdict[] = [];
  for (const endpoint of fleet.endpoints) {
    const pool = endpoint.replicas ?? [];
    if (pool.length < 2) continue;
    const only: Fleet = { ...fleet, endpoints: [endpoint] };
    for (const r of pool) {
      const served = records.filter(
        (x) => x.endpoint === endpoint.name && x.replica === r.id && x.startedAtMs >= range.sinceMs,
      );
      const verdict = evaluateFleet(only, {
        buckets: foldRecords(only, served),
        incidents: [],
        samples: samplesFromRecords(served),
        ...range,
      });
      out.push({
        endpoint: endpoint.name,
        replica: r.id,
        requests: served.length,
        objectives: (verdict.endpoints[0]?.objectives ?? []).filter(
          (o) => o.objective.kind !== 'availability' && o.objective.kind !== 'recovery',
        ),
      });
    }
  }
  return out;
}
