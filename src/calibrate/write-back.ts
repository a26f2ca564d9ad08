// `calibrate --write`: put the proposed targets into the fleet file in place. The yaml Document API
// edits the values inside their existing nodes, so comments, key order, flow maps and the
// unit style of each value (`2000ms` or a bare number) survive; the result must still validate.
import { isScalar, parseDocument } from 'yaml';
import { FleetError } from '../errors.ts';
import type { LoadOptions } from '../fleet/index.ts';
import { parseFleet } from '../fleet/index.ts';
import type { Proposal } from './thresholds.ts';

export interface TargetUpdate {
  readonly endpoint: string;
  readonly proposal: Proposal;
}

export interface WriteBackResult {
  readonly text: string;
  /** One entry per changed value. */
  readonly changes: readonly { endpoint: string; field: string; from?: string; to: string }[];
}

/**
 * The fleet text with every proposed target applied. Pure; the caller writes the file. A value that
 * exists is replaced by splicing its source range, so every other byte of the file stays as it was;
 * a value that does not exist yet is added through the Document API (that re-renders the file).
 */
export function applyTargets(text: string, updates: readonly TargetUpdate[]): WriteBackResult {
  const doc = parseDocument(text);
  const changes: { endpoint: string; field: string; from?: string; to: string }[] = [];
  const splices: { start: number; end: number; text: string }[] = [];
  let structural = false;
  const set = (endpoint: string, path: readonly string[], value: number, unit: 'ms' | ''): void => {
    const full = ['endpoints', endpoint, 'slo', ...path];
    const existing = doc.getIn(full, true);
    const old = isScalar(existing) ? existing.value : undefined;
    // Keep the value's style: a duration written as `2000ms` stays a string with its unit.
    const asString = unit === 'ms' ? typeof old !== 'number' : typeof old === 'string';
    const next = asString ? `${value}${unit}` : value;
    if (old !== undefined && String(old) === String(next)) return;
    if (isScalar(existing) && existing.range) {
      const [start, end] = existing.range;
      const quote = /^['"]/.test(text.slice(start, end)) ? (text[start] as string) : '';
      splices.push({ start, end, text: `${quote}${String(next)}${quote}` });
    } else {
      doc.setIn(full, next);
      structural = true;
    }
    changes.push({
      endpoint,
      field: path.join('.'),
      from: old === undefined ? undefined : String(old),
      to: String(next),
    });
  };
  for (const { endpoint, proposal: p } of updates) {
    if (doc.getIn(['endpoints', endpoint]) === undefined)
      throw new FleetError('unknown_endpoint', `endpoint ${endpoint} is not in the fleet file`);
    if (p.ttftP95Ms) set(endpoint, ['ttft', 'p95'], p.ttftP95Ms.value, 'ms');
    if (p.ttftP99Ms) set(endpoint, ['ttft', 'p99'], p.ttftP99Ms.value, 'ms');
    if (p.sustainedTokensPerSecond)
      set(endpoint, ['throughput', 'sustained'], p.sustainedTokensPerSecond.value, '');
    if (p.burstTokensPerSecond) set(endpoint, ['throughput', 'burst'], p.burstTokensPerSecond.value, '');
    if (p.embeddingsPerSecond)
      set(endpoint, ['throughput', 'embeddingsPerSecond'], p.embeddingsPerSecond.value, '');
  }
  if (structural) return { text: doc.toString({ lineWidth: 0, flowCollectionPadding: false }), changes };
  let out = text;
  for (const s of splices.sort((x, y) => y.start - x.start))
    out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return { text: out, changes };
}

/** Applies the targets and checks that the result is still a valid fleet file. */
export function rewriteFleetText(
  text: string,
  file: string,
  updates: readonly TargetUpdate[],
  options: LoadOptions = {},
): WriteBackResult {
  const result = applyTargets(text, updates);
  parseFleet(result.text, file, options); // throws FleetValidationError with file:line if we broke it
  return result;
}

/** A minimal line diff (LCS) for showing the change before it is written. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      (lcs[i] as number[])[j] =
        a[i] === b[j]
          ? ((lcs[i + 1] as number[])[j + 1] as number) + 1
          : Math.max((lcs[i + 1] as number[])[j] as number, (lcs[i] as number[])[j + 1] as number);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      i++;
      j++;
    } else if (
      i < n &&
      (j >= m || ((lcs[i + 1] as number[])[j] as number) >= ((lcs[i] as number[])[j + 1] as number))
    ) {
      out.push(`- ${i + 1}: ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${j + 1}: ${b[j]}`);
      j++;
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
