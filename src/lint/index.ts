// Lint: finds code and config that still use decommissioned endpoints, or hard-code endpoint
// addresses that should come from their env var.
export { scanPaths } from './scan.ts';
export type { ScanResult } from './scan.ts';
export { buildMatchers, lintText, RULES, SUPPRESS_MARKER } from './rules.ts';
export type { Finding, LintRule, LintRuleId } from './rules.ts';
export { formatSarif, formatText } from './format.ts';
