// Small builders the SLO tests share: a request record and a probe with only what matters set.
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';

export function record(
  over: Partial<RequestRecord> & Pick<RequestRecord, 'endpoint' | 'startedAtMs'>,
): RequestRecord {
  return {
    id: `r-${over.startedAtMs}`,
    source: 'gateway',
    operation: 'chat',
    route: 'auto',
    outcome: 'ok',
    status: 200,
    stream: true,
    attempts: [],
    totalMs: 1000,
    ...over,
  };
}

export function probe(endpoint: string, atMs: number, ok: boolean): ProbeResult {
  return { endpoint, kind: 'health', atMs, ok, latencyMs: 4, detail: ok ? 'ok' : 'connect refused' };
}
