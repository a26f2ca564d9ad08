// Text rendering of a calibration run: the summary table and the notes that keep each number's
// meaning next to it. Pure: strings in, strings out.
import type { Summary } from '../measure/index.ts';
import type { CalibrationRun, EndpointCalibration, OutputCheck } from './procedure.ts';
import type { DerivedValue } from './thresholds.ts';

export type Row = (string | number)[];

export const SUMMARY_HEAD = ['endpoint', 'metric', 'P50', 'P95', 'P99', 'current', 'proposed', 'verdict'];

export function summaryRows(run: CalibrationRun): Row[] {
  return run.endpoints.flatMap((e) => endpointRows(e));
}

function endpointRows(e: EndpointCalibration): Row[] {
  if (e.status === 'failed' || !e.metrics)
    return [
      [e.endpoint, 'FAILED', '', '', '', '', '', `${e.failure?.message ?? 'failed'} (not averaged in)`],
    ];
  const m = e.metrics;
  const p = e.proposal ?? {};
  const cur = e.current;
  const verdictOf = (metric: string): string => e.verdicts?.find((v) => v.metric === metric)?.verdict ?? '';
  const latencyName = e.kind === 'embeddings' ? `latency (batch)` : 'TTFT';
  const rows: Row[] = [
    [
      e.endpoint,
      `${latencyName} ms`,
      ms(m.ttftMs.p50),
      ms(m.ttftMs.p95),
      ms(m.ttftMs.p99),
      cur.ttft ? `${cur.ttft.p95Ms} / ${cur.ttft.p99Ms}` : 'TBD',
      `${val(p.ttftP95Ms)} / ${val(p.ttftP99Ms)}`,
      `${verdictOf('ttft-p95')} / ${verdictOf('ttft-p99')}`,
    ],
  ];
  if (e.kind === 'embeddings') {
    rows.push(
      triple(
        '',
        'embeddings/s',
        m.embeddingsPerSecond,
        cur.throughput.embeddingsPerSecond,
        p.embeddingsPerSecond,
        verdictOf('embeddings-rate'),
      ),
    );
  } else {
    const out = e.output;
    const excluded =
      out && out.excludedFromRates > 0 ? ` (${out.excludedFromRates} too short, excluded)` : '';
    const estimated = e.tokenSource === 'chunks' ? ' (estimated)' : '';
    rows.push(
      triple('', 'time to headers ms', m.timeToHeadersMs),
      triple('', 'time to role ms', m.timeToRoleMs),
      triple('', 'ITL ms', m.itlMs),
      triple('', 'E2E ms', m.e2eMs),
      triple(
        '',
        `output tokens${estimated}`,
        m.completionTokens,
        out?.askedTokens,
        undefined,
        out === undefined ? '' : outputVerdict(out, e.samples.filter((x) => x.phase === 'measured').length),
      ),
      triple(
        '',
        'prompt tokens',
        m.promptTokens,
        e.prompt?.askedTokens,
        undefined,
        e.prompt === undefined ? '' : `counted by ${e.prompt.source}`,
      ),
      triple(
        '',
        `decode tok/s${estimated}${excluded}`,
        m.decodeTokensPerSecond,
        cur.throughput.sustainedTokensPerSecond,
        p.sustainedTokensPerSecond,
        `sustained (P50): ${verdictOf('sustained')}`,
      ),
      triple(
        '',
        `burst tok/s${estimated}${excluded}`,
        m.burstTokensPerSecond,
        cur.throughput.burstTokensPerSecond,
        p.burstTokensPerSecond,
        `burst (P95): ${verdictOf('burst')}`,
      ),
    );
  }
  return rows;
}

function triple(
  name: string,
  metric: string,
  s: Summary,
  current?: number,
  proposed?: DerivedValue,
  verdict = '',
): Row {
  return [
    name,
    metric,
    num(s.p50),
    num(s.p95),
    num(s.p99),
    current ?? '',
    proposed ? `${proposed.value}${proposed.caveat === undefined ? '' : ' (estimated)'}` : '',
    verdict,
  ];
}

function outputVerdict(out: OutputCheck, measured: number): string {
  const reasons = Object.entries(out.finishReasons)
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');
  return out.shortAnswers === 0
    ? `forced (finish ${reasons})`
    : `NOT FORCED: ${out.shortAnswers}/${measured} short (finish ${reasons})`;
}

function ms(v: number | undefined): string {
  return v === undefined ? '—' : v.toFixed(1);
}

function num(v: number | undefined): string {
  if (v === undefined) return '—';
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function val(d: DerivedValue | undefined): string {
  return d ? String(d.value) : '—';
}

/** Lines under the table: how the numbers were obtained. */
export function runNotes(run: CalibrationRun): string {
  const lines: string[] = [];
  lines.push(
    `run ${run.id}: ${run.settings.warmupIterations} warm-up (discarded) + ${run.settings.iterations} measured per endpoint, one request at a time${run.settings.parallelHosts ? ', hosts in parallel' : ''}`,
  );
  lines.push(`percentiles: ${run.percentileMethod}`);
  lines.push(
    `targets: ${run.settings.formula}, margin ×${run.settings.safetyMargin}, base ${run.settings.basePercentile === 'same' ? 'each target from its own percentile' : 'P99 for both'}; floors = measured / margin`,
  );
  for (const e of run.endpoints) {
    const o = e.networkOverhead;
    const parts: string[] = [];
    if (o)
      parts.push(
        `network overhead ${o.valueMs.toFixed(2)} ms (${o.source}${o.tcpConnectMedianMs !== undefined ? `: TCP connect median of ${o.tries}` : ''}${o.healthRoundTripMedianMs !== undefined ? `, /health RTT median ${o.healthRoundTripMedianMs.toFixed(2)} ms` : ''})`,
      );
    if (e.tokenSource === 'tokenize')
      parts.push('no usage from the server: completion tokens counted with its /tokenize');
    if (e.tokenSource === 'chunks')
      parts.push(
        'no usage and no /tokenize: tokens are counted events, an estimate that undercounts multi-token events; throughput floors are marked estimated',
      );
    const out = e.output;
    if (out && out.shortAnswers > 0) {
      const how =
        out.forcedWith.length > 0
          ? `${out.forcedWith.join(' and ')} sent but not honoured, or the model stopped early`
          : 'this server has no way to force it';
      parts.push(
        `output not forced: ${out.shortAnswers} answers shorter than the ${out.askedTokens} tokens asked (${how})`,
      );
    }
    if (out && out.excludedFromRates > 0) {
      const kept = e.measuredCompleted - out.excludedFromRates;
      parts.push(
        kept > 0
          ? `decode and burst from the ${kept} answers of at least ${out.minTokensForRates} tokens (${out.excludedFromRates} too short to time, excluded)`
          : `no answer had ${out.minTokensForRates} tokens: no decode or burst figure, no throughput floor proposed`,
      );
    }
    const pr = e.prompt;
    if (pr) {
      const measured = pr.measuredTokens === undefined ? '?' : num(pr.measuredTokens);
      const sized = pr.sizedWithTokenize
        ? `, sized with the server's /tokenize (${pr.sizedWithTokenize.fillerWords} filler words = ${pr.sizedWithTokenize.tokens} tokens)`
        : ', not sized (no /tokenize)';
      parts.push(`prompt: asked ${pr.askedTokens} tokens, measured ${measured} (${pr.source})${sized}`);
    }
    const f = e.fingerprint;
    if (f) {
      const facts = [
        f.serverVersion && `version ${f.serverVersion}`,
        f.modelRoot && `model ${f.modelRoot}`,
        f.contextWindowTokens && `context ${f.contextWindowTokens}`,
        f.systemFingerprint && `fingerprint ${f.systemFingerprint}`,
        f.before?.kvCacheUsage !== undefined &&
          `KV cache ${pct(f.before.kvCacheUsage)}→${pct(f.after?.kvCacheUsage)}`,
        f.totalSlots !== undefined && `${f.totalSlots} slots`,
        f.before?.slotsProcessing !== undefined &&
          `slots busy ${f.before.slotsProcessing}/${f.before.slotsTotal ?? '?'}→${f.after?.slotsProcessing ?? '?'}/${f.after?.slotsTotal ?? '?'} (${f.before.from})`,
        f.before?.requestsRunning !== undefined &&
          `running/waiting ${f.before.requestsRunning}/${f.before.requestsWaiting ?? '?'}→${f.after?.requestsRunning ?? '?'}/${f.after?.requestsWaiting ?? '?'}`,
      ].filter(Boolean);
      if (facts.length > 0) parts.push(facts.join(', '));
      if (f.unavailable.length > 0) parts.push(`unavailable: ${f.unavailable.join(', ')}`);
    }
    if (parts.length > 0) lines.push(`${e.endpoint}: ${parts.join('; ')}`);
  }
  if (run.note) lines.push(`note: ${run.note}`);
  return `${lines.join('\n')}\n`;
}

function pct(v: number | undefined): string {
  return v === undefined ? '?' : `${(v * 100).toFixed(1)}%`;
}
