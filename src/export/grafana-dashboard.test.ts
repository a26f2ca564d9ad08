import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { objectivesFor } from '../slo/index.ts';
import { renderGrafanaDashboard } from './grafana-dashboard.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });

interface PanelLike {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string }[];
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(renderGrafanaDashboard(fleet)) as { uid: string; panels: PanelLike[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('is JSON with unique panel ids and a stable uid', () => {
    expect(dashboard.uid).toBe('llm-fleet-onex');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('shows budget and burn rate of every judged ratio objective, from the exported recording rules', () => {
    for (const o of objectivesFor(fleet).filter((x) => x.kind !== 'recovery' && x.judgedAs !== 'aggregate')) {
      expect(exprs).toContain(`slo:period_error_budget_remaining:ratio{sloth_id="${o.id}"}`);
      expect(exprs).toContain(`slo:current_burn_rate:ratio{sloth_id="${o.id}"}`);
    }
  });

  it('draws the aggregate embeddings rate over the alert windows against its floor, with no budget', () => {
    const id = 'embeddings-embeddings-rate';
    expect(exprs).toContain(`slo:aggregate_rate:rate5m{sloth_id="${id}"}`);
    expect(exprs).toContain(`slo:aggregate_rate:rate1h{sloth_id="${id}"}`);
    expect(exprs).not.toContain(`slo:period_error_budget_remaining:ratio{sloth_id="${id}"}`);
  });

  it('draws TTFT percentiles against the targets and never overlaps panels', () => {
    const ttft = dashboard.panels.find((p) => p.title.startsWith('TTFT P95 / P99 (targets 800 / 1500 ms)'));
    expect(ttft?.targets?.[0]?.expr).toBe(
      'histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket{endpoint="coder-fast"}[5m])))',
    );
    const cells = new Set<string>();
    for (const p of dashboard.panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const key = `${x},${y}`;
          expect(cells.has(key), `panel ${p.title} overlaps at ${key}`).toBe(false);
          cells.add(key);
        }
  });
});
