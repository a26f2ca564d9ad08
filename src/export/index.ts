// Pure renderers from the fleet (and, for the report, a verdict and calibration runs) to the
// artefacts the wider ecosystem reads: Prometheus rules, OpenSLO v1, a Grafana dashboard, and the
// regenerated SLO document. No I/O: the CLI writes what these return.
export type {
  PrometheusRule,
  PrometheusRuleGroup,
  PrometheusRuleFile,
  PrometheusRulesOptions,
} from './prometheus-rules.ts';
export {
  prometheusRules,
  renderPrometheusRules,
  ratioObjectives,
  errorRatioRecord,
} from './prometheus-rules.ts';
