// A Grafana dashboard over the gateway's and monitor's metrics and the exported recording rules:
// per objective the remaining error budget and burn rate, per endpoint TTFT percentiles, decode
// rate, up/down and the current outage against its recovery objective.
import type { Fleet } from '../fleet/index.ts';
import { METRICS } from '../measure/metric-names.ts';
import type { Objective } from '../slo/index.ts';
import { objectivesFor } from '../slo/index.ts';

export interface GrafanaOptions {
  /** Dashboard uid (default `llm-fleet-<fleet>`). */
  readonly uid?: string;
}

type Panel = Record<string, unknown>;
const DS = { type: 'prometheus', uid: '${datasource}' };

export function grafanaDashboard(fleet: Fleet, options: GrafanaOptions = {}): Record<string, unknown> {
  // Ratio objectives: the aggregate embeddings rate has no budget or burn rate (its own panel below).
  const objectives = objectivesFor(fleet).filter((o) => o.kind !== 'recovery' && o.judgedAs !== 'aggregate');
  const panels: Panel[] = [];
  let id = 1;
  let y = 0;
  const add = (panel: Panel, w: number, h: number, x: number): void => {
    panels.push({ id: id++, datasource: DS, gridPos: { h, w, x, y }, ...panel });
  };

  add(row('Fleet'), 24, 1, 0);
  y += 1;
  add(
    timeseries(
      'Endpoint up (1) / down (0)',
      [{ expr: `${METRICS.endpointUp}`, legendFormat: '{{endpoint}}' }],
      'short',
    ),
    12,
    7,
    0,
  );
  add(
    timeseries(
      'Current outage vs recovery objective',
      [{ expr: `${METRICS.endpointDownSeconds}`, legendFormat: '{{endpoint}}' }],
      's',
    ),
    12,
    7,
    12,
  );
  y += 7;

  for (const e of fleet.endpoints) {
    const mine = objectives.filter((o) => o.endpoint === e.name);
    if (mine.length === 0) continue;
    add(row(`${e.name} — ${e.env} (${e.model})`), 24, 1, 0);
    y += 1;
    add(budgetTable(mine), 12, 8, 0);
    add(
      timeseries(
        'Burn rate (5m) per objective: 1 spends the 30-day budget exactly',
        mine.map((o) => ({
          expr: `slo:current_burn_rate:ratio{sloth_id="${o.id}"}`,
          legendFormat: o.description,
        })),
        'short',
      ),
      12,
      8,
      12,
    );
    y += 8;
    if (e.slo.ttft) {
      const h = `${METRICS.ttft}_bucket{endpoint="${e.name}"}`;
      add(
        timeseries(
          `${e.kind === 'embeddings' ? 'Batch latency' : 'TTFT'} P95 / P99 (targets ${e.slo.ttft.p95Ms} / ${e.slo.ttft.p99Ms} ms)`,
          [
            { expr: `histogram_quantile(0.95, sum by (le) (rate(${h}[5m])))`, legendFormat: 'P95' },
            { expr: `histogram_quantile(0.99, sum by (le) (rate(${h}[5m])))`, legendFormat: 'P99' },
          ],
          's',
          [e.slo.ttft.p95Ms / 1000, e.slo.ttft.p99Ms / 1000],
        ),
        12,
        7,
        0,
      );
    }
    const rate = objectivesFor(fleet).find((o) => o.endpoint === e.name && o.judgedAs === 'aggregate');
    if (rate)
      add(
        timeseries(
          `Embeddings per busy second, aggregate (floor ${rate.threshold ?? 0})`,
          [
            { expr: `slo:aggregate_rate:rate5m{sloth_id="${rate.id}"}`, legendFormat: '5m' },
            { expr: `slo:aggregate_rate:rate1h{sloth_id="${rate.id}"}`, legendFormat: '1h' },
          ],
          'short',
          [rate.threshold ?? 0],
        ),
        12,
        7,
        12,
      );
    if (e.kind === 'chat')
      add(
        timeseries(
          `Decode tokens/s, median${e.slo.throughput.sustainedTokensPerSecond ? ` (floor ${e.slo.throughput.sustainedTokensPerSecond})` : ''}`,
          [
            {
              expr: `histogram_quantile(0.5, sum by (le) (rate(${METRICS.decodeRate}_bucket{endpoint="${e.name}"}[5m])))`,
              legendFormat: 'P50',
            },
          ],
          'short',
          e.slo.throughput.sustainedTokensPerSecond ? [e.slo.throughput.sustainedTokensPerSecond] : [],
        ),
        12,
        7,
        12,
      );
    y += 7;
  }

  return {
    uid: options.uid ?? `llm-fleet-${fleet.name}`.slice(0, 40),
    title: `llm-fleet: ${fleet.name} SLOs`,
    tags: ['llm-fleet', 'slo'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: 'now-24h', to: 'now' },
    refresh: '1m',
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus', current: {} },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

function row(title: string): Panel {
  return { type: 'row', title, collapsed: false, panels: [] };
}

function timeseries(
  title: string,
  targets: readonly { expr: string; legendFormat: string }[],
  unit: string,
  thresholds: readonly number[] = [],
): Panel {
  return {
    type: 'timeseries',
    title,
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, ...t })),
    fieldConfig: {
      defaults: {
        unit,
        thresholds: {
          mode: 'absolute',
          steps: [{ color: 'green', value: null }, ...thresholds.map((value) => ({ color: 'red', value }))],
        },
        custom: { thresholdsStyle: { mode: thresholds.length > 0 ? 'line' : 'off' } },
      },
      overrides: [],
    },
  };
}

function budgetTable(objectives: readonly Objective[]): Panel {
  return {
    type: 'bargauge',
    title: 'Error budget remaining (30 days)',
    targets: objectives.map((o, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DS,
      expr: `slo:period_error_budget_remaining:ratio{sloth_id="${o.id}"}`,
      legendFormat: o.description,
      instant: true,
    })),
    options: { orientation: 'horizontal', displayMode: 'basic', showUnfilled: true },
    fieldConfig: {
      defaults: {
        unit: 'percentunit',
        min: 0,
        max: 1,
        thresholds: {
          mode: 'absolute',
          steps: [
            { color: 'red', value: null },
            { color: 'orange', value: 0.25 },
            { color: 'green', value: 0.5 },
          ],
        },
      },
      overrides: [],
    },
  };
}

export function renderGrafanaDashboard(fleet: Fleet, options: GrafanaOptions = {}): string {
  return `${JSON.stringify(grafanaDashboard(fleet, options), null, 2)}\n`;
}
