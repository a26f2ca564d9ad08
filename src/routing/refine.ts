// The exact-count hook: when an estimate sits within the estimator's worst-case error of a
// threshold that decides routing, ask an exact counter (an endpoint's POST /tokenize) and route on
// that. Far from every threshold the estimate is used as is, so most requests cost nothing extra.
import { needsExactCount } from './tokens.ts';

export interface TokenCount {
  readonly tokens: number;
  readonly exact: boolean;
  /** Why the count is what it is, for logs and headers. */
  readonly source: 'estimate' | 'tokenize' | 'estimate (tokenize failed)';
}

export async function refineTokenCount(
  estimate: number,
  thresholds: readonly number[],
  countExactly: (() => Promise<number>) | undefined,
): Promise<TokenCount> {
  if (countExactly === undefined || !needsExactCount(estimate, thresholds))
    return { tokens: estimate, exact: false, source: 'estimate' };
  try {
    return { tokens: await countExactly(), exact: true, source: 'tokenize' };
  } catch {
    // An exact count is an improvement, never a requirement: route on the estimate.
    return { tokens: estimate, exact: false, source: 'estimate (tokenize failed)' };
  }
}
