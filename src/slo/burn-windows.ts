// The multi-window multi-burn-rate table (Google SRE Workbook ch. 5, as Sloth generates it for a
// 30-day period). One constant: the in-process evaluator and the exported Prometheus rules both
// read it, so an alert that fires in Prometheus fires in `llm-fleet check` on the same data.

/** The SLO period every budget and burn rate is stated against (Sloth's default `30d`). */
export const SLO_PERIOD_MS = 30 * 24 * 60 * 60_000;

export type BurnSeverity = 'page' | 'ticket';

export interface BurnWindowPair {
  /** Stable name, used in alert labels (`page-quick`). */
  readonly name: 'page-quick' | 'page-slow' | 'ticket-quick' | 'ticket-slow';
  readonly severity: BurnSeverity;
  readonly shortWindowMs: number;
  readonly longWindowMs: number;
  /** Share of the period's error budget this alert spends before it fires. */
  readonly budgetConsumed: number;
  /** Burn-rate threshold: budgetConsumed × period / longWindow (Sloth `internal/alert/window.go`). */
  readonly factor: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

function pair(
  name: BurnWindowPair['name'],
  severity: BurnSeverity,
  shortWindowMs: number,
  longWindowMs: number,
  budgetConsumed: number,
): BurnWindowPair {
  // Rounded to 4 decimals so 0.02 × 720 gives 14.4, not 14.400000000000002.
  const factor = Math.round(((budgetConsumed * SLO_PERIOD_MS) / longWindowMs) * 10_000) / 10_000;
  return { name, severity, shortWindowMs, longWindowMs, budgetConsumed, factor };
}

/** Sloth/SRE 30d table: page 14.4 (5m∧1h) and 6 (30m∧6h); ticket 3 (2h∧1d) and 1 (6h∧3d). */
export const BURN_WINDOWS: readonly BurnWindowPair[] = [
  pair('page-quick', 'page', 5 * MINUTE_MS, HOUR_MS, 0.02),
  pair('page-slow', 'page', 30 * MINUTE_MS, 6 * HOUR_MS, 0.05),
  pair('ticket-quick', 'ticket', 2 * HOUR_MS, DAY_MS, 0.1),
  pair('ticket-slow', 'ticket', 6 * HOUR_MS, 3 * DAY_MS, 0.1),
];

/** Every distinct window the table uses, ascending (the recording rules' windows). */
export const BURN_RATE_WINDOWS_MS: readonly number[] = [
  ...new Set(BURN_WINDOWS.flatMap((p) => [p.shortWindowMs, p.longWindowMs])),
].sort((a, b) => a - b);

/** `5m`, `30m`, `1h`, `6h`, `1d`, `3d`, `30d`: the Prometheus duration spelling of a window. */
export function promDuration(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS}d`;
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % MINUTE_MS === 0) return `${ms / MINUTE_MS}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
