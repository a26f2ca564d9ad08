// Measured figures against the fleet file's current targets: does the endpoint meet them today?
import type { EndpointSlo } from '../fleet/index.ts';
import type { MeasuredPercentiles } from './thresholds.ts';

/** `unmeasured`: there is a target but no trustworthy figure to judge it (e.g. output not forced). */
export type Verdict = 'meets' | 'misses' | 'unmeasured' | 'no-target';

export interface VerdictLine {
  readonly metric: 'ttft-p95' | 'ttft-p99' | 'sustained' | 'burst' | 'embeddings-rate';
  readonly measured?: number;
  readonly target?: number;
  readonly verdict: Verdict;
}

export interface MeasuredForVerdict {
  readonly latencyMs: MeasuredPercentiles;
  readonly decodeTokensPerSecond?: MeasuredPercentiles;
  readonly burstTokensPerSecond?: MeasuredPercentiles;
  readonly embeddingsPerSecond?: MeasuredPercentiles;
}

export function verdicts(
  m: MeasuredForVerdict,
  slo: EndpointSlo,
  kind: 'chat' | 'embeddings',
): VerdictLine[] {
  const atMost = (metric: VerdictLine['metric'], measured?: number, target?: number): VerdictLine => ({
    metric,
    measured,
    target,
    verdict:
      target === undefined || measured === undefined ? 'no-target' : measured <= target ? 'meets' : 'misses',
  });
  const atLeast = (metric: VerdictLine['metric'], measured?: number, target?: number): VerdictLine => ({
    metric,
    measured,
    target,
    verdict:
      target === undefined
        ? 'no-target'
        : measured === undefined
          ? 'unmeasured'
          : measured >= target
            ? 'meets'
            : 'misses',
  });
  const lines = [
    atMost('ttft-p95', m.latencyMs.p95, slo.ttft?.p95Ms),
    atMost('ttft-p99', m.latencyMs.p99, slo.ttft?.p99Ms),
  ];
  if (kind === 'embeddings')
    lines.push(atLeast('embeddings-rate', m.embeddingsPerSecond?.p50, slo.throughput.embeddingsPerSecond));
  else
    lines.push(
      atLeast('sustained', m.decodeTokensPerSecond?.p50, slo.throughput.sustainedTokensPerSecond),
      atLeast('burst', m.burstTokensPerSecond?.p95, slo.throughput.burstTokensPerSecond),
    );
  return lines;
}

/**
 * One word for a table cell: misses if any line misses, unmeasured if a target could not be judged
 * (a "meets" that skipped a target would overstate it), meets if any meets, else no-target.
 */
export function overallVerdict(lines: readonly VerdictLine[]): Verdict {
  if (lines.some((l) => l.verdict === 'misses')) return 'misses';
  if (lines.some((l) => l.verdict === 'unmeasured')) return 'unmeasured';
  if (lines.some((l) => l.verdict === 'meets')) return 'meets';
  return 'no-target';
}
