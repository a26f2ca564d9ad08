// Prometheus recording and alerting rules over the counters the gateway and monitor expose
// (src/measure/metric-names.ts). Every ratio objective is `llm_slo_events_total{slo=<id>}` good/bad
// events, so the rules need no histogram buckets; the burn-rate windows and factors come from the
// same constant the in-process evaluator uses (src/slo/burn-windows.ts). Record names and `sloth_*`
// labels follow Sloth's conventions, so Sloth's Grafana dashboard (grafana.com 14348) can read them.
import { stringify } from 'yaml';
import type { Fleet } from '../fleet/index.ts';
import { METRICS } from '../measure/metric-names.ts';
import type { Objective } from '../slo/index.ts';
import {
  AGGREGATE_RATE_ALERT,
  BURN_RATE_WINDOWS_MS,
  BURN_WINDOWS,
  objectivesFor,
  promDuration,
  SLO_PERIOD_MS,
} from '../slo/index.ts';

export interface PrometheusRule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PrometheusRuleGroup {
  readonly name: string;
  readonly rules: readonly PrometheusRule[];
}

export interface PrometheusRuleFile {
  readonly groups: readonly PrometheusRuleGroup[];
}

export interface PrometheusRulesOptions {
  /** How long the endpoint-up gauge may be absent before the guard fires (default 5m). */
  readonly absentFor?: string;
}

/**
 * The objectives Prometheus alerts on as ratios of good events (recovery and the aggregate
 * embeddings rate have their own rules).
 */
export function ratioObjectives(fleet: Fleet): Objective[] {
  return objectivesFor(fleet).filter((o) => o.kind !== 'recovery' && o.judgedAs !== 'aggregate');
}

/** Aggregate rate record name for a window, e.g. `slo:aggregate_rate:rate5m`. */
export function aggregateRateRecord(windowMs: number): string {
  return `slo:aggregate_rate:rate${promDuration(windowMs)}`;
}

/** Error ratio record name for a window, e.g. `slo:sli_error:ratio_rate5m`. */
export function errorRatioRecord(windowMs: number): string {
  return `slo:sli_error:ratio_rate${promDuration(windowMs)}`;
}

/** The rule file as data (see `renderPrometheusRules` for the YAML). */
export function prometheusRules(fleet: Fleet, options: PrometheusRulesOptions = {}): PrometheusRuleFile {
  const groups: PrometheusRuleGroup[] = objectivesFor(fleet)
    .filter((o) => o.kind !== 'recovery')
    .map((o) => (o.judgedAs === 'aggregate' ? aggregateGroup(o) : objectiveGroup(o)));
  const recovery = recoveryRules(fleet);
  if (recovery.length > 0) groups.push({ name: 'llm-fleet-recovery', rules: recovery });
  groups.push({ name: 'llm-fleet-absent', rules: absentRules(fleet, options.absentFor ?? '5m') });
  return { groups };
}

function sloLabels(o: Objective): Record<string, string> {
  return { sloth_id: o.id, sloth_service: o.endpoint, sloth_slo: o.kind };
}

function selector(o: Objective): string {
  return `sloth_id="${o.id}"`;
}

/**
 * One group per objective, recording rules first: Prometheus evaluates a group's rules in order,
 * so the alerts read ratios recorded in the same evaluation (promtool tests rely on it too).
 */
function objectiveGroup(o: Objective): PrometheusRuleGroup {
  const labels = sloLabels(o);
  const events = `${METRICS.sloEvents}{slo="${o.id}"}`;
  const bad = `${METRICS.sloEvents}{slo="${o.id}",outcome="bad"}`;
  const rules: PrometheusRule[] = [];
  // Bad/total per window. `or … * 0` keeps the ratio at 0 (not absent) before the first bad event.
  // The 30d period ratio is Σbad/Σtotal too, never Sloth's "optimised" mean of 5m ratios, which
  // would disagree with the evaluator under uneven traffic (sloth#618).
  for (const windowMs of [...BURN_RATE_WINDOWS_MS, SLO_PERIOD_MS]) {
    const w = promDuration(windowMs);
    rules.push({
      record: errorRatioRecord(windowMs),
      expr:
        `(sum by (slo, endpoint) (rate(${bad}[${w}])) or sum by (slo, endpoint) (rate(${events}[${w}])) * 0)\n` +
        `/ sum by (slo, endpoint) (rate(${events}[${w}]))`,
      labels: { ...labels, sloth_window: w },
    });
  }
  const budget = `(1 - ${o.target})`;
  rules.push(
    { record: 'slo:objective:ratio', expr: `vector(${o.target})`, labels },
    { record: 'slo:error_budget:ratio', expr: `vector(${budget})`, labels },
    { record: 'slo:time_period:days', expr: `vector(${SLO_PERIOD_MS / 86_400_000})`, labels },
    {
      record: 'slo:current_burn_rate:ratio',
      expr: `sum without (sloth_window) (${errorRatioRecord(BURN_RATE_WINDOWS_MS[0] ?? 300_000)}{${selector(o)}}) / ${budget}`,
      labels,
    },
    {
      record: 'slo:period_burn_rate:ratio',
      expr: `sum without (sloth_window) (${errorRatioRecord(SLO_PERIOD_MS)}{${selector(o)}}) / ${budget}`,
      labels,
    },
    {
      record: 'slo:period_error_budget_remaining:ratio',
      expr: `1 - slo:period_burn_rate:ratio{${selector(o)}}`,
      labels,
    },
  );
  for (const pair of BURN_WINDOWS) {
    // `ratio > factor * (1 - target)`: the evaluator (src/slo/burn-rate.ts) compares the very same way.
    const threshold = `(${pair.factor} * ${budget})`;
    const side = (windowMs: number): string =>
      `max without (sloth_window) (${errorRatioRecord(windowMs)}{${selector(o)}} > ${threshold})`;
    rules.push({
      alert: 'LLMFleetErrorBudgetBurn',
      expr: `${side(pair.shortWindowMs)}\nand\n${side(pair.longWindowMs)}`,
      labels: { ...labels, severity: pair.severity, burn_window: pair.name },
      annotations: {
        summary: `${o.endpoint}: ${o.description} is burning its error budget (${pair.name})`,
        description:
          `Error ratio over ${promDuration(pair.shortWindowMs)} and ${promDuration(pair.longWindowMs)} is above ` +
          `${pair.factor}× the budget ${budget}: ${Math.round(pair.budgetConsumed * 100)}% of the 30-day budget ` +
          `goes in ${promDuration(pair.longWindowMs)} at this rate.`,
        runbook: `llm-fleet check --since ${promDuration(pair.longWindowMs)}`,
      },
    });
  }
  return { name: `llm-fleet-slo-${o.id}`, rules };
}

/**
 * An aggregate-rate objective: units over busy seconds per window (the evaluator's
 * 1000 × units / busy ms over the same minutes), and an alert when both the 5m and the 1h rate are
 * under the floor. Without traffic in a window the ratio is NaN and nothing fires: idle is not slow.
 */
function aggregateGroup(o: Objective): PrometheusRuleGroup {
  const labels = sloLabels(o);
  const floor = o.threshold ?? 0;
  const units = `${METRICS.sloRateUnits}{slo="${o.id}"}`;
  const busy = `${METRICS.sloRateBusySeconds}{slo="${o.id}"}`;
  const windows = [AGGREGATE_RATE_ALERT.shortWindowMs, AGGREGATE_RATE_ALERT.longWindowMs, SLO_PERIOD_MS];
  const rules: PrometheusRule[] = windows.map((windowMs) => {
    const w = promDuration(windowMs);
    return {
      record: aggregateRateRecord(windowMs),
      expr: `sum by (slo, endpoint) (rate(${units}[${w}]))\n/ sum by (slo, endpoint) (rate(${busy}[${w}]))`,
      labels: { ...labels, sloth_window: w },
    };
  });
  rules.push({ record: 'slo:objective:rate', expr: `vector(${floor})`, labels });
  const side = (windowMs: number): string =>
    `max without (sloth_window) (${aggregateRateRecord(windowMs)}{${selector(o)}} < ${floor})`;
  const short = promDuration(AGGREGATE_RATE_ALERT.shortWindowMs);
  const long = promDuration(AGGREGATE_RATE_ALERT.longWindowMs);
  rules.push({
    alert: 'LLMFleetAggregateRateLow',
    expr: `${side(AGGREGATE_RATE_ALERT.shortWindowMs)}\nand\n${side(AGGREGATE_RATE_ALERT.longWindowMs)}`,
    labels: { ...labels, severity: AGGREGATE_RATE_ALERT.severity, rate_window: AGGREGATE_RATE_ALERT.name },
    annotations: {
      summary: `${o.endpoint}: ${o.description} is not met`,
      description:
        `Inputs per busy second over ${short} and over ${long} are both under ${floor}: ` +
        `${METRICS.sloRateUnits} ÷ ${METRICS.sloRateBusySeconds}, busy time being the union of the counted batches.`,
      runbook: `llm-fleet check --since ${long}`,
    },
  });
  return { name: `llm-fleet-slo-${o.id}`, rules };
}

function recoveryRules(fleet: Fleet): PrometheusRule[] {
  return objectivesFor(fleet)
    .filter((o) => o.kind === 'recovery' && o.threshold !== undefined)
    .map((o) => ({
      alert: 'LLMFleetRecoveryBreached',
      // The monitor's gauge counts seconds since the incident opened (after its N-failure debounce),
      // the same start the evaluator judges incidents from. Every gateway replica exports its own
      // gauge: the longest outage any of them sees is the one judged, as one alert per endpoint
      // (no instance label), not one per replica.
      expr: `max by (endpoint) (${METRICS.endpointDownSeconds}{endpoint="${o.endpoint}"}) > ${(o.threshold ?? 0) / 1000}`,
      labels: { ...sloLabels(o), severity: 'page' },
      annotations: {
        summary: `${o.endpoint} has been down longer than its recovery objective (${(o.threshold ?? 0) / 60_000} min)`,
        description: `${METRICS.endpointDownSeconds} counts the current outage; the objective allows ${(o.threshold ?? 0) / 1000} s.`,
        runbook: 'llm-fleet health',
      },
    }));
}

function absentRules(fleet: Fleet, absentFor: string): PrometheusRule[] {
  const rules: PrometheusRule[] = [];
  for (const e of fleet.endpoints) {
    if (e.status !== 'running') continue;
    rules.push({
      alert: 'LLMFleetMetricsAbsent',
      // Without the monitor's gauge no availability event is counted and every burn alert stays
      // silent (NaN ratios): page on the silence itself.
      expr: `absent(${METRICS.endpointUp}{endpoint="${e.name}"})`,
      for: absentFor,
      labels: { severity: 'ticket', endpoint: e.name, metric: METRICS.endpointUp },
      annotations: {
        summary: `No ${METRICS.endpointUp} for ${e.name}: is llm-fleet monitor (or serve) running and scraped?`,
      },
    });
  }
  rules.push({
    alert: 'LLMFleetMetricsAbsent',
    expr: `absent(${METRICS.probes})`,
    for: absentFor,
    labels: { severity: 'ticket', metric: METRICS.probes },
    annotations: { summary: `No ${METRICS.probes}: the monitor is not probing (or not scraped).` },
  });
  return rules;
}

const HEADER = `# Prometheus rules generated by \`llm-fleet export prometheus\` from fleet '{fleet}'.
# Source of truth: llm_slo_events_total{slo,endpoint,outcome}, counted by the gateway (latency and
# throughput objectives, one good/bad event per valid request) and by the monitor (availability, one
# event per probe). The same events feed \`llm-fleet check\`, so the rules and the CLI agree.
# Aggregate rates (embeddings/s): llm_slo_rate_units_total ÷ llm_slo_rate_busy_seconds_total per
# window, the inputs over the time the endpoint was busy with counted batches, as check judges it.
# Business hours: the monitor counts availability events only inside the objective's window, in its
# IANA time zone with daylight saving handled; outside it nothing is counted, the ratios are NaN and
# no burn alert can fire. So these rules need no hour()/day_of_week() maths (UTC-only in PromQL).
# Burn-rate windows and factors: Google SRE workbook / Sloth 30-day table (page 14.4 and 6, ticket 3 and 1).
`;

/** The rule file as YAML, ready for `promtool check rules` and Prometheus' `rule_files`. */
export function renderPrometheusRules(fleet: Fleet, options: PrometheusRulesOptions = {}): string {
  return (
    HEADER.replace('{fleet}', fleet.name) +
    stringify(prometheusRules(fleet, options), { lineWidth: 0, aliasDuplicateObjects: false })
  );
}
