// The exported Prometheus rules and llm-fleet's evaluator, run on the same synthetic events, must
// agree: promtool evaluates the rules on counter series built from per-minute buckets, and the
// expected alerts and ratios it checks are the evaluator's. Needs `promtool` (Debian: prometheus).
import { beforeAll, describe, expect, it } from 'vitest';
import { renderPrometheusRules, prometheusRules } from '../../src/export/index.ts';
import type { Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { METRICS } from '../../src/measure/metric-names.ts';
import type { Incident, ProbeResult } from '../../src/probes/types.ts';
import type { MinuteBucket, Objective } from '../../src/slo/index.ts';
import {
  aggregateRate,
  aggregateRateRecordName,
  burnStatus,
  errorRatioRecordName,
  foldProbes,
  judgeRecovery,
  objectivesFor,
  promDuration,
} from './evaluator-view.ts';
import type { AlertTest, ExprTest, PromtoolTestCase } from './promtool-case.ts';
import {
  annotationsOf,
  eventSeries,
  MINUTE_MS,
  promtoolVersion,
  runPromtool,
  runRuleTests,
} from './promtool-case.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const version = promtoolVersion();
const fleet: Fleet = loadFleet(new URL('../../examples/onex.fleet.yaml', import.meta.url).pathname, {
  env: {},
});
const rulesYaml = renderPrometheusRules(fleet);
const rules = prometheusRules(fleet);
/**
 * The exported groups that concern one objective (or the recovery group), verbatim: promtool
 * evaluates every rule at every step, and the whole file (351 rules × 430 steps) makes a case
 * take a minute on a busy machine. `promtool check rules` above covers the whole file.
 */
const groupsFor = (name: string): string =>
  stringify(
    { groups: rules.groups.filter((g) => g.name === name) },
    { lineWidth: 0, aliasDuplicateObjects: false },
  );
const objective = (id: string): Objective => {
  const o = objectivesFor(fleet).find((x) => x.id === id);
  if (!o) throw new Error(id);
  return o;
};

/** The labels an objective's recorded series and alerts carry (the counter's, then Sloth's). */
function seriesLabels(o: Objective): Record<string, string> {
  return { slo: o.id, endpoint: o.endpoint, sloth_id: o.id, sloth_service: o.endpoint, sloth_slo: o.kind };
}

/** Alerts and error ratios the evaluator sees at `minute`, as promtool expectations. */
function expectations(
  o: Objective,
  buckets: readonly MinuteBucket[],
  minute: number,
): { alert: AlertTest; exprs: ExprTest[] } {
  const status = burnStatus(buckets, o.id, o.target, minute * MINUTE_MS);
  const base = seriesLabels(o);
  const alert: AlertTest = {
    eval_time: `${minute}m`,
    alertname: 'LLMFleetErrorBudgetBurn',
    exp_alerts: status.alerts
      .filter((a) => a.firing)
      .map((a) => {
        const labels = { ...base, severity: a.pair.severity, burn_window: a.pair.name };
        return {
          exp_labels: labels,
          exp_annotations: annotationsOf(rules, 'LLMFleetErrorBudgetBurn', labels),
        };
      }),
  };
  const exprs: ExprTest[] = status.windows
    .filter((w) => w.errorRatio !== undefined)
    .map((w) => {
      const name = errorRatioRecordName(w.windowMs);
      const labels = `${name}{endpoint="${o.endpoint}",slo="${o.id}",sloth_id="${o.id}",sloth_service="${o.endpoint}",sloth_slo="${o.kind}",sloth_window="${promDuration(w.windowMs)}"}`;
      return {
        expr: `${name}{sloth_id="${o.id}"}`,
        eval_time: `${minute}m`,
        exp_samples: [{ labels, value: asPrometheus(w.good, w.total, w.windowMs, w.errorRatio) }],
      };
    });
  return { alert, exprs };
}

/**
 * promtool compares bit for bit; Prometheus divides two rates (bad × 1/s ÷ total × 1/s) where the evaluator
 * divides bad ÷ total. Same counts, so the two may differ by a rounding step only: check that, and
 * give promtool the value in its own arithmetic.
 */
function asPrometheus(good: number, total: number, windowMs: number, evaluator: number | undefined): number {
  // Prometheus 2.x: rate = increase × (extrapolated/sampled interval ÷ range seconds); the samples sit
  // on the window's edges (or the counters start at 0), so the interval ratio is exactly 1.
  const factor = 1 / (windowMs / 1000);
  // The denominator sums the good and the bad series' rates (float addition of two terms commutes).
  const value = ((total - good) * factor) / ((total - good) * factor + good * factor);
  expect(Math.abs(value - (evaluator as number))).toBeLessThan(1e-12);
  return value;
}

/** 220 min of good TTFT traffic (one slow request every 50 min), then 210 min where 60% miss the P95 target. */
function latencyScenario(o: Objective): { buckets: MinuteBucket[]; minutes: number } {
  const minutes = 430;
  const buckets: MinuteBucket[] = [];
  for (let k = 0; k < minutes; k++) {
    const bad = k >= 220 ? 12 : k % 50 === 0 ? 1 : 0;
    buckets.push({
      endpoint: o.endpoint,
      objectiveId: o.id,
      minuteStartMs: k * MINUTE_MS,
      good: 20 - bad,
      total: 20,
    });
  }
  return { buckets, minutes };
}

describe('exported Prometheus rules', () => {
  if (!version) {
    it.skip('promtool is not installed: `apt-get install prometheus` (CI installs it in .ci/run); rule tests skipped', () => {});
    return;
  }
  beforeAll(() => {
    console.info(`using ${version}`);
  });

  it('pass `promtool check rules`', () => {
    const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), rulesYaml);
    const r = runPromtool(['check', 'rules', 'rules.yaml'], dir);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('test the exported groups verbatim (a subset of the file, byte for byte)', () => {
    for (const g of rules.groups) expect(rulesYaml).toContain(groupsFor(g.name).replace(/^groups:\n/, ''));
  });

  it(
    'burn-rate alerts and recorded ratios agree with the evaluator on a latency burst',
    { timeout: 240_000 },
    () => {
      const o = objective('coder-ttft-p95');
      const { buckets, minutes } = latencyScenario(o);
      // The evaluator's own view, stated by hand so this test fails if the evaluator changes. At 430 min:
      // page-quick (5m ∧ 1h > 14.4 × 5% = 72%) stays silent at 60%; page-slow (> 30%) fires: 30m 60%,
      // 6h (2520 + 3) / 7200 = 35%; ticket-quick (> 15%): 2h 60%, 1d 2525 / 8600 = 29%; ticket-slow (> 5%).
      const at430 = burnStatus(buckets, o.id, o.target, 430 * MINUTE_MS);
      expect(at430.alerts.map((a) => [a.pair.name, a.firing])).toEqual([
        ['page-quick', false],
        ['page-slow', true],
        ['ticket-quick', true],
        ['ticket-slow', true],
      ]);
      const cases: PromtoolTestCase[] = [];
      const alerts: AlertTest[] = [];
      const exprs: ExprTest[] = [];
      for (const minute of [200, 230, 300, 430]) {
        const e = expectations(o, buckets, minute);
        alerts.push(e.alert);
        exprs.push(...e.exprs);
      }
      cases.push({
        input_series: eventSeries(o, buckets, minutes),
        alert_rule_test: alerts,
        promql_expr_test: exprs,
      });
      const r = runRuleTests(groupsFor(`llm-fleet-slo-${o.id}`), cases);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    },
  );

  it(
    'fails when the expectation is not what the rules compute (the comparison can fail)',
    { timeout: 240_000 },
    () => {
      const o = objective('coder-ttft-p95');
      const { buckets, minutes } = latencyScenario(o);
      const e = expectations(o, buckets, 430);
      // Claim page-quick fires as well: promtool must disagree.
      const labels = {
        slo: o.id,
        endpoint: o.endpoint,
        sloth_id: o.id,
        sloth_service: o.endpoint,
        sloth_slo: o.kind,
        severity: 'page',
        burn_window: 'page-quick',
      };
      const wrong: AlertTest = {
        ...e.alert,
        exp_alerts: [
          ...e.alert.exp_alerts,
          { exp_labels: labels, exp_annotations: annotationsOf(rules, 'LLMFleetErrorBudgetBurn', labels) },
        ],
      };
      const r = runRuleTests(groupsFor(`llm-fleet-slo-${o.id}`), [
        { input_series: eventSeries(o, buckets, minutes), alert_rule_test: [wrong], promql_expr_test: [] },
      ]);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain('FAILED');
    },
  );

  it(
    'business-hours availability: probes counted only inside the window, alerts agree across closing time',
    { timeout: 240_000 },
    () => {
      const o = objective('coder-availability');
      // t = 0 is 1970-01-01T00:00Z = Wed 16:00 in Los Angeles: open until 18:00 (t = 120 min), then closed.
      // Probes every 15 s for 3 h; the endpoint fails from 100 to 140 min, straddling closing time.
      const probes: ProbeResult[] = [];
      for (let t = 0; t < 180 * MINUTE_MS; t += 15_000)
        probes.push({
          endpoint: 'coder',
          kind: 'health',
          atMs: t,
          ok: t < 100 * MINUTE_MS || t >= 140 * MINUTE_MS,
          latencyMs: 3,
          detail: '',
        });
      const buckets = foldProbes(fleet, probes).filter((b) => b.objectiveId === o.id);
      // Nothing is counted after 18:00 local: the last bucket is the 17:59 minute.
      expect(buckets.length).toBe(120);
      expect(buckets.at(-1)?.minuteStartMs).toBe(119 * MINUTE_MS);
      const alerts: AlertTest[] = [];
      const exprs: ExprTest[] = [];
      for (const minute of [110, 120, 150]) {
        const e = expectations(o, buckets, minute);
        alerts.push(e.alert);
        exprs.push(...e.exprs);
      }
      // At 120 min both page alerts fire; at 150 min (closed) the short windows hold no events, so pages stop.
      expect(burnStatus(buckets, o.id, o.target, 120 * MINUTE_MS).firing).toBe('page');
      expect(burnStatus(buckets, o.id, o.target, 150 * MINUTE_MS).firing).toBe('ticket');
      const r = runRuleTests(groupsFor(`llm-fleet-slo-${o.id}`), [
        { input_series: eventSeries(o, buckets, 180), alert_rule_test: alerts, promql_expr_test: exprs },
      ]);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    },
  );

  it(
    'the aggregate embeddings rate: recorded 5m/1h rates and the low-rate alert agree with the evaluator',
    { timeout: 240_000 },
    () => {
      const o = objective('embeddings-embeddings-rate');
      // 20 batches of 32 a minute: 6400/s (100 ms busy a minute) for an hour, then 4000/s
      // (160 ms) for 50 minutes, then idle for 10.
      const minutes = 120;
      const buckets: MinuteBucket[] = [];
      for (let k = 0; k < 110; k++)
        buckets.push({
          endpoint: o.endpoint,
          objectiveId: o.id,
          minuteStartMs: k * MINUTE_MS,
          good: 640,
          total: k < 60 ? 100 : 160,
        });
      const units = [0];
      const busySeconds = [0];
      for (let k = 0; k < minutes; k++) {
        const b = buckets.find((x) => x.minuteStartMs === k * MINUTE_MS);
        units.push((units[k] ?? 0) + (b?.good ?? 0));
        // The gateway adds busyMs / 1000 per request; per minute here, the same float sums.
        busySeconds.push((busySeconds[k] ?? 0) + (b?.total ?? 0) / 1000);
      }
      const base = seriesLabels(o);
      const alerts: AlertTest[] = [];
      const exprs: ExprTest[] = [];
      const firing: boolean[] = [];
      for (const minute of [30, 70, 100, 115]) {
        const a = aggregateRate(buckets, o, { sinceMs: 0, nowMs: minute * MINUTE_MS });
        firing.push(a.firing);
        const labels = { ...base, severity: 'ticket', rate_window: 'rate-quick' };
        alerts.push({
          eval_time: `${minute}m`,
          alertname: 'LLMFleetAggregateRateLow',
          exp_alerts: a.firing
            ? [
                {
                  exp_labels: labels,
                  exp_annotations: annotationsOf(rules, 'LLMFleetAggregateRateLow', labels),
                },
              ]
            : [],
        });
        for (const w of a.windows) {
          if (w.ratePerSecond === undefined) continue;
          const name = aggregateRateRecordName(w.windowMs);
          const from = minute - w.windowMs / MINUTE_MS;
          // Prometheus 2.x: rate = increase × (1 / range seconds) here (the samples sit on the window's
          // edges, see asPrometheus), and the rule divides the two rates.
          const factor = 1 / (w.windowMs / 1000);
          const du = (units[minute] ?? 0) - (units[Math.max(0, from)] ?? 0);
          const db = (busySeconds[minute] ?? 0) - (busySeconds[Math.max(0, from)] ?? 0);
          const value = (du * factor) / (db * factor);
          expect(Math.abs(value - w.ratePerSecond) / w.ratePerSecond).toBeLessThan(1e-9);
          exprs.push({
            expr: `${name}{sloth_id="${o.id}"}`,
            eval_time: `${minute}m`,
            exp_samples: [
              {
                labels: `${name}{endpoint="${o.endpoint}",slo="${o.id}",sloth_id="${o.id}",sloth_service="${o.endpoint}",sloth_slo="${o.kind}",sloth_window="${promDuration(w.windowMs)}"}`,
                value,
              },
            ],
          });
        }
      }
      // At 70 min the last 5 minutes are slow but the hour is not (5818/s); at 100 both are under
      // 5000 (the hour: 38400 inputs in 8.4 s = 4571/s); at 115 the last 5 minutes are idle: NaN, silent.
      expect(firing).toEqual([false, false, true, false]);
      const r = runRuleTests(groupsFor(`llm-fleet-slo-${o.id}`), [
        {
          input_series: [
            {
              series: `${METRICS.sloRateUnits}{slo="${o.id}",endpoint="${o.endpoint}"}`,
              values: units.join(' '),
            },
            {
              series: `${METRICS.sloRateBusySeconds}{slo="${o.id}",endpoint="${o.endpoint}"}`,
              values: busySeconds.join(' '),
            },
          ],
          alert_rule_test: alerts,
          promql_expr_test: exprs,
        },
      ]);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    },
  );

  it(
    'recovery alert fires exactly when the evaluator judges an open incident late',
    { timeout: 240_000 },
    () => {
      const coder = fleet.endpoints.find((e) => e.name === 'coder');
      if (!coder) throw new Error('coder');
      // Down from 10 min; the gauge counts seconds of the current outage, sampled each minute. Two
      // replicas export the gauge: one saw the outage, the other (probing less often) still says 0;
      // the alert is one per endpoint, without the replica's instance label.
      const incident: Incident = { endpoint: 'coder', startedAtMs: 10 * MINUTE_MS, cause: 'connect_refused' };
      const values = Array.from({ length: 31 }, (_, k) => (k < 10 ? 0 : (k - 10) * 60));
      const tests: AlertTest[] = [14, 15, 16, 20].map((minute) => {
        const judged = judgeRecovery(coder, [incident], { sinceMs: 0, nowMs: minute * MINUTE_MS });
        const late = judged.exceeded > 0;
        const labels = {
          endpoint: 'coder',
          sloth_id: 'coder-recovery',
          sloth_service: 'coder',
          sloth_slo: 'recovery',
          severity: 'page',
        };
        return {
          eval_time: `${minute}m`,
          alertname: 'LLMFleetRecoveryBreached',
          exp_alerts: late
            ? [
                {
                  exp_labels: labels,
                  exp_annotations: annotationsOf(rules, 'LLMFleetRecoveryBreached', labels),
                },
              ]
            : [],
        };
      });
      // 5 min (300 s) allowed: at 15 min the outage is exactly 300 s (not late), at 16 min it is.
      expect(tests.map((t) => t.exp_alerts.length)).toEqual([0, 0, 1, 1]);
      const r = runRuleTests(groupsFor('llm-fleet-recovery'), [
        {
          input_series: [
            {
              series: `${METRICS.endpointDownSeconds}{endpoint="coder",instance="replica-a:8080"}`,
              values: values.join(' '),
            },
            {
              series: `${METRICS.endpointDownSeconds}{endpoint="coder",instance="replica-b:8080"}`,
              values: values.map(() => 0).join(' '),
            },
          ],
          alert_rule_test: tests,
          promql_expr_test: [],
        },
      ]);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    },
  );
});
