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
  aggregateRateRecord,
} from './prometheus-rules.ts';
export type { OpenSloOptions } from './openslo.ts';
export { openSloDocuments, renderOpenSlo } from './openslo.ts';
export type { GrafanaOptions } from './grafana-dashboard.ts';
export { grafanaDashboard, renderGrafanaDashboard } from './grafana-dashboard.ts';
export type { Block, Section, DocumentModel } from './document-model.ts';
export { renderMarkdown, renderHtml, escapeHtml, inlineHtml } from './document-model.ts';
export type { CalibrationRunSummary, SloDocumentInput, SloDocumentFormat } from './slo-document.ts';
export { renderSloDocument, sloDocument, sloDocumentData, lastUpdated } from './slo-document.ts';
