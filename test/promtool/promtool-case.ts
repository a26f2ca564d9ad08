// Builds `promtool test rules` cases from per-minute SLO buckets: the buckets become the cumulative
// counters the gateway/monitor would expose (one sample a minute from t = 0), and the expected
// alerts and recorded ratios come from llm-fleet's own evaluator. promtool passing means the
// exported rules and the evaluator agree on the same data.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { PrometheusRuleFile } from '../../src/export/index.ts';
import { METRICS } from '../../src/measure/metric-names.ts';
import type { MinuteBucket, Objective } from '../../src/slo/index.ts';

export const MINUTE_MS = 60_000;

export interface PromtoolResult {
  readonly status: number | null;
  readonly output: string;
}

export function promtoolVersion(): string | undefined {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return `${r.stdout}${r.stderr}`.split('\n')[0];
}

export function runPromtool(args: readonly string[], cwd: string): PromtoolResult {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Cumulative good and bad counter values at t = 0, 1m, … minutes (value at k = Σ buckets before k). */
export function counterSeries(
  buckets: readonly MinuteBucket[],
  objective: Objective,
  minutes: number,
): { good: number[]; bad: number[] } {
  const good = [0];
  const bad = [0];
  for (let k = 0; k < minutes; k++) {
    const b = buckets.find((x) => x.objectiveId === objective.id && x.minuteStartMs === k * MINUTE_MS);
    good.push((good[k] ?? 0) + (b?.good ?? 0));
    bad.push((bad[k] ?? 0) + (b ? b.total - b.good : 0));
  }
  return { good, bad };
}

export interface InputSeries {
  readonly series: string;
  readonly values: string;
}

export function eventSeries(
  objective: Objective,
  buckets: readonly MinuteBucket[],
  minutes: number,
): InputSeries[] {
  const { good, bad } = counterSeries(buckets, objective, minutes);
  const name = (outcome: string): string =>
    `${METRICS.sloEvents}{slo="${objective.id}",endpoint="${objective.endpoint}",outcome="${outcome}"}`;
  return [
    { series: name('good'), values: good.join(' ') },
    { series: name('bad'), values: bad.join(' ') },
  ];
}

export interface ExpectedAlert {
  readonly exp_labels: Readonly<Record<string, string>>;
  readonly exp_annotations?: Readonly<Record<string, string>>;
}

export interface AlertTest {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts: readonly ExpectedAlert[];
}

export interface ExprTest {
  readonly expr: string;
  readonly eval_time: string;
  readonly exp_samples: readonly { readonly labels: string; readonly value: number }[];
}

export interface PromtoolTestCase {
  readonly input_series: readonly InputSeries[];
  readonly alert_rule_test: readonly AlertTest[];
  readonly promql_expr_test: readonly ExprTest[];
}

/** Writes the rules and a test file into a fresh directory and runs `promtool test rules`. */
export function runRuleTests(
  rulesYaml: string,
  cases: readonly PromtoolTestCase[],
): PromtoolResult & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-promtool-'));
  writeFileSync(join(dir, 'rules.yaml'), rulesYaml);
  const tests = {
    rule_files: ['rules.yaml'],
    evaluation_interval: '1m',
    tests: cases.map((c) => ({ interval: '1m', ...c })),
  };
  writeFileSync(join(dir, 'test.yaml'), stringify(tests, { lineWidth: 0, aliasDuplicateObjects: false }));
  return { ...runPromtool(['test', 'rules', 'test.yaml'], dir), dir };
}

/** The annotations promtool must see on an alert, read from the rule data (they carry no templates). */
export function annotationsOf(
  rules: PrometheusRuleFile,
  alert: string,
  labels: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  for (const g of rules.groups)
    for (const r of g.rules)
      if (r.alert === alert && Object.entries(r.labels ?? {}).every(([k, v]) => labels[k] === v))
        return r.annotations ?? {};
  throw new Error(`no alert ${alert} with labels ${JSON.stringify(labels)}`);
}
