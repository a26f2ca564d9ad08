import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { openSloDocuments, renderOpenSlo } from './openslo.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });

describe('OpenSLO v1 export', () => {
  const docs = parseAllDocuments(renderOpenSlo(fleet)).map((d) => d.toJSON() as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
  const slo = (name: string) => docs.find((d) => d.kind === 'SLO' && d.metadata.name === name);

  it('reads back as the documents it was rendered from', () => {
    expect(docs).toEqual(JSON.parse(JSON.stringify(openSloDocuments(fleet))));
    expect(docs.map((d) => d.kind).filter((k) => k !== 'SLO')).toEqual([
      'DataSource',
      'Service',
      'Service',
      'Service',
      'Service',
    ]);
    // Every judged ratio objective; the aggregate embeddings rate is not a ratio (Prometheus rules only).
    expect(docs.filter((d) => d.kind === 'SLO')).toHaveLength(18);
    expect(JSON.stringify(docs)).not.toContain('embeddings-embeddings-rate');
  });

  it('latency as a ratio of good events over a rolling 30 days', () => {
    const d = slo('coder-fast-ttft-p95');
    expect(d?.apiVersion).toBe('openslo/v1');
    expect(d?.spec.timeWindow).toEqual([{ duration: '30d', isRolling: true }]);
    expect(d?.spec.budgetingMethod).toBe('Occurrences');
    expect(d?.spec.objectives).toEqual([{ displayName: 'TTFT P95 ≤ 800 ms', target: 0.95 }]);
    expect(d?.spec.indicator.spec.ratioMetric.good.metricSource.spec.query).toBe(
      'sum(llm_slo_events_total{slo="coder-fast-ttft-p95",outcome="good"})',
    );
  });

  it('availability over a calendar month in the window zone', () => {
    expect(slo('coder-availability')?.spec.timeWindow).toEqual([
      {
        duration: '1M',
        isRolling: false,
        calendar: { startTime: '2026-01-01 00:00:00', timeZone: 'America/Los_Angeles' },
      },
    ]);
    expect(slo('embeddings-availability')?.spec.timeWindow[0].calendar.timeZone).toBe('UTC');
    expect(slo('embeddings-availability')?.spec.objectives[0].target).toBe(0.995);
  });

  it('keeps to the go-sdk rules: one time window, target in [0, 1), no op/value on ratio metrics', () => {
    for (const d of docs.filter((x) => x.kind === 'SLO')) {
      expect(d.spec.timeWindow).toHaveLength(1);
      for (const o of d.spec.objectives) {
        expect(o.target).toBeGreaterThanOrEqual(0);
        expect(o.target).toBeLessThan(1);
        expect(o.op).toBeUndefined();
      }
    }
  });
});
