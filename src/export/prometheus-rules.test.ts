import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { prometheusRules, renderPrometheusRules } from './prometheus-rules.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const file = prometheusRules(fleet);
const rules = file.groups.flatMap((g) => g.rules);

describe('Prometheus rules for the example fleet', () => {
  it('has one group per judged ratio objective, then recovery and absent guards', () => {
    expect(file.groups.map((g) => g.name)).toEqual([
      'llm-fleet-slo-coder-ttft-p95',
      'llm-fleet-slo-coder-ttft-p99',
      'llm-fleet-slo-coder-throughput-sustained',
      'llm-fleet-slo-coder-throughput-burst',
      'llm-fleet-slo-coder-availability',
      'llm-fleet-slo-coder-fast-ttft-p95',
      'llm-fleet-slo-coder-fast-ttft-p99',
      'llm-fleet-slo-coder-fast-throughput-sustained',
      'llm-fleet-slo-coder-fast-throughput-burst',
      'llm-fleet-slo-coder-fast-availability',
      'llm-fleet-slo-embeddings-ttft-p95',
      'llm-fleet-slo-embeddings-ttft-p99',
      'llm-fleet-slo-embeddings-embeddings-rate',
      'llm-fleet-slo-embeddings-availability',
      'llm-fleet-slo-deepseek-r1-ttft-p95',
      'llm-fleet-slo-deepseek-r1-ttft-p99',
      'llm-fleet-slo-deepseek-r1-throughput-sustained',
      'llm-fleet-slo-deepseek-r1-throughput-burst',
      'llm-fleet-slo-deepseek-r1-availability',
      'llm-fleet-recovery',
      'llm-fleet-absent',
    ]);
    // The best-effort endpoint is never alerted on.
    expect(JSON.stringify(file)).not.toContain('small-availability');
  });

  it('records Σbad/Σtotal per window from llm_slo_events_total', () => {
    const r = rules.find(
      (x) => x.record === 'slo:sli_error:ratio_rate5m' && x.labels?.sloth_id === 'coder-ttft-p95',
    );
    expect(r?.expr).toBe(
      '(sum by (slo, endpoint) (rate(llm_slo_events_total{slo="coder-ttft-p95",outcome="bad"}[5m])) or sum by (slo, endpoint) (rate(llm_slo_events_total{slo="coder-ttft-p95"}[5m])) * 0)\n' +
        '/ sum by (slo, endpoint) (rate(llm_slo_events_total{slo="coder-ttft-p95"}[5m]))',
    );
    const windows = rules
      .filter(
        (x) => x.record?.startsWith('slo:sli_error:ratio_rate') && x.labels?.sloth_id === 'coder-ttft-p95',
      )
      .map((x) => x.labels?.sloth_window);
    expect(windows).toEqual(['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']);
  });

  it('alerts on both windows of each pair above factor × budget', () => {
    const alerts = rules.filter(
      (x) => x.alert === 'LLMFleetErrorBudgetBurn' && x.labels?.sloth_id === 'embeddings-availability',
    );
    expect(alerts.map((a) => [a.labels?.severity, a.labels?.burn_window])).toEqual([
      ['page', 'page-quick'],
      ['page', 'page-slow'],
      ['ticket', 'ticket-quick'],
      ['ticket', 'ticket-slow'],
    ]);
    expect(alerts[0]?.expr).toBe(
      'max without (sloth_window) (slo:sli_error:ratio_rate5m{sloth_id="embeddings-availability"} > (14.4 * (1 - 0.995)))\n' +
        'and\n' +
        'max without (sloth_window) (slo:sli_error:ratio_rate1h{sloth_id="embeddings-availability"} > (14.4 * (1 - 0.995)))',
    );
  });

  it('judges the embeddings rate as units over busy seconds, alerting when 5m and 1h are both under the floor', () => {
    const group = file.groups.find((g) => g.name === 'llm-fleet-slo-embeddings-embeddings-rate');
    expect(group?.rules.map((r) => r.record ?? r.alert)).toEqual([
      'slo:aggregate_rate:rate5m',
      'slo:aggregate_rate:rate1h',
      'slo:aggregate_rate:rate30d',
      'slo:objective:rate',
      'LLMFleetAggregateRateLow',
    ]);
    expect(group?.rules[0]?.expr).toBe(
      'sum by (slo, endpoint) (rate(llm_slo_rate_units_total{slo="embeddings-embeddings-rate"}[5m]))\n' +
        '/ sum by (slo, endpoint) (rate(llm_slo_rate_busy_seconds_total{slo="embeddings-embeddings-rate"}[5m]))',
    );
    expect(group?.rules[4]?.expr).toBe(
      'max without (sloth_window) (slo:aggregate_rate:rate5m{sloth_id="embeddings-embeddings-rate"} < 5000)\n' +
        'and\n' +
        'max without (sloth_window) (slo:aggregate_rate:rate1h{sloth_id="embeddings-embeddings-rate"} < 5000)',
    );
    // No error-budget rules: a rate has no good/bad events to count.
    expect(JSON.stringify(group)).not.toContain('llm_slo_events_total');
  });

  it('alerts when an outage outlasts the recovery objective (5, 5, 3, 10 minutes)', () => {
    expect(rules.filter((x) => x.alert === 'LLMFleetRecoveryBreached').map((x) => x.expr)).toEqual([
      'max by (endpoint) (llm_fleet_endpoint_down_seconds{endpoint="coder"}) > 300',
      'max by (endpoint) (llm_fleet_endpoint_down_seconds{endpoint="coder-fast"}) > 300',
      'max by (endpoint) (llm_fleet_endpoint_down_seconds{endpoint="embeddings"}) > 180',
      'max by (endpoint) (llm_fleet_endpoint_down_seconds{endpoint="deepseek-r1"}) > 600',
    ]);
  });

  it('guards against absent metrics for every running endpoint', () => {
    expect(rules.filter((x) => x.alert === 'LLMFleetMetricsAbsent').map((x) => x.expr)).toEqual([
      'absent(llm_fleet_endpoint_up{endpoint="coder"})',
      'absent(llm_fleet_endpoint_up{endpoint="coder-fast"})',
      'absent(llm_fleet_endpoint_up{endpoint="embeddings"})',
      'absent(llm_fleet_endpoint_up{endpoint="deepseek-r1"})',
      'absent(llm_fleet_probes_total)',
    ]);
  });

  it('renders YAML that reads back as the same rules, with the why in a header comment', () => {
    const yaml = renderPrometheusRules(fleet);
    expect(parse(yaml)).toEqual(JSON.parse(JSON.stringify(file)));
    expect(yaml).toMatch(
      /^# Prometheus rules generated by `llm-fleet export prometheus` from fleet 'onex'\./,
    );
    expect(yaml).toContain('no hour()/day_of_week() maths');
    // Shared label objects must not turn into YAML anchors and aliases (&a1 / *a1): readers grep these files.
    expect(yaml).not.toMatch(/[&*]a\d+/);
  });
});
