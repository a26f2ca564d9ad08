// Bench output files: CSV (one row per step) and a self-contained HTML report with
// latency-vs-load charts. uPlot's script and stylesheet are inlined so the file works offline.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BenchStep } from './bench-summary.ts';

const CSV_COLUMNS: readonly [string, (s: BenchStep) => number | string | undefined][] = [
  ['step', (s) => s.label],
  ['mode', (s) => s.mode],
  ['concurrency', (s) => s.concurrency],
  ['rate_per_s', (s) => s.ratePerSecond],
  ['burstiness', (s) => s.burstiness],
  ['requests', (s) => s.requests],
  ['completed', (s) => s.completed],
  ['errors', (s) => s.errors],
  ['duration_s', (s) => s.durationSeconds],
  ['requests_per_s', (s) => s.requestsPerSecond],
  ['output_tokens_per_s', (s) => s.outputTokensPerSecond],
  ['ttft_p50_ms', (s) => s.ttftMs.p50],
  ['ttft_p95_ms', (s) => s.ttftMs.p95],
  ['ttft_p99_ms', (s) => s.ttftMs.p99],
  ['itl_p50_ms', (s) => s.itlMs.p50],
  ['itl_p95_ms', (s) => s.itlMs.p95],
  ['itl_p99_ms', (s) => s.itlMs.p99],
  ['e2e_p50_ms', (s) => s.e2eMs.p50],
  ['e2e_p95_ms', (s) => s.e2eMs.p95],
  ['e2e_p99_ms', (s) => s.e2eMs.p99],
  ['decode_tokens_per_s_p50', (s) => s.decodeTokensPerSecond.p50],
  ['goodput_share', (s) => s.goodput.share],
  ['goodput_per_s', (s) => s.goodput.perSecond],
  ['slos_met', (s) => (s.objectives.every((o) => o.met) ? 'yes' : 'no')],
  ['lag_p50_ms', (s) => s.lagMs?.p50],
  ['lag_p99_ms', (s) => s.lagMs?.p99],
  ['lag_max_ms', (s) => s.lagMs?.max],
];

export function benchCsv(steps: readonly BenchStep[]): string {
  const cell = (v: number | string | undefined): string =>
    v === undefined
      ? ''
      : typeof v === 'number'
        ? String(Number(v.toFixed(4)))
        : /[",\n]/.test(v)
          ? `"${v.replace(/"/g, '""')}"`
          : v;
  const lines = [CSV_COLUMNS.map(([name]) => name).join(',')];
  for (const s of steps) lines.push(CSV_COLUMNS.map(([, get]) => cell(get(s))).join(','));
  return `${lines.join('\n')}\n`;
}

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  return {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

export interface ReportContext {
  readonly title: string;
  readonly target: string;
  readonly generatedAt: string;
  readonly definitions: Readonly<Record<string, string>>;
}

/** A standalone HTML page: a table of steps and latency/throughput-vs-load charts. */
export function benchHtml(steps: readonly BenchStep[], ctx: ReportContext): string {
  const { js, css } = uplotAssets();
  const xName = steps.every((s) => s.mode === 'open') ? 'offered rate (req/s)' : 'concurrency';
  const xs = steps.map((s, i) => (s.mode === 'open' ? (s.ratePerSecond ?? i + 1) : (s.concurrency ?? i + 1)));
  const series = (f: (s: BenchStep) => number | undefined): (number | null)[] =>
    steps.map((s) => f(s) ?? null);
  const data = {
    xName,
    xs,
    charts: [
      {
        title: 'TTFT (ms)',
        series: {
          P50: series((s) => s.ttftMs.p50),
          P95: series((s) => s.ttftMs.p95),
          P99: series((s) => s.ttftMs.p99),
        },
      },
      {
        title: 'ITL (ms)',
        series: {
          P50: series((s) => s.itlMs.p50),
          P95: series((s) => s.itlMs.p95),
          P99: series((s) => s.itlMs.p99),
        },
      },
      {
        title: 'E2E latency (ms)',
        series: {
          P50: series((s) => s.e2eMs.p50),
          P95: series((s) => s.e2eMs.p95),
          P99: series((s) => s.e2eMs.p99),
        },
      },
      { title: 'Output tokens/s', series: { 'output tok/s': series((s) => s.outputTokensPerSecond) } },
      {
        title: 'Requests/s: completed and good (goodput)',
        series: {
          'req/s': series((s) => s.requestsPerSecond),
          'goodput req/s': series((s) => s.goodput.perSecond),
        },
      },
    ],
  };
  const esc = (t: string): string => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const f = (v: number | undefined, d = 1): string => (v === undefined ? '—' : v.toFixed(d));
  const rows = steps
    .map(
      (s) =>
        `<tr><td>${esc(s.label)}</td><td>${s.completed}/${s.requests}</td><td>${f(s.requestsPerSecond, 2)}</td><td>${f(s.outputTokensPerSecond)}</td><td>${f(s.ttftMs.p50)} / ${f(s.ttftMs.p95)} / ${f(s.ttftMs.p99)}</td><td>${f(s.itlMs.p50)} / ${f(s.itlMs.p95)} / ${f(s.itlMs.p99)}</td><td>${f(s.e2eMs.p50)} / ${f(s.e2eMs.p95)} / ${f(s.e2eMs.p99)}</td><td>${s.errors}</td><td>${(s.goodput.share * 100).toFixed(1)}% (${f(s.goodput.perSecond, 2)}/s)</td><td>${s.objectives.every((o) => o.met) ? 'met' : 'MISSED'}</td><td>${s.lagMs ? `${f(s.lagMs.p99, 3)}${s.lagWarning ? ' ⚠' : ''}` : '—'}</td></tr>`,
    )
    .join('\n');
  const defs = Object.entries(ctx.definitions)
    .map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(ctx.title)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}.charts{display:flex;flex-wrap:wrap;gap:16px}
</style></head><body>
<h1>${esc(ctx.title)}</h1>
<p>Target: ${esc(ctx.target)} · generated ${esc(ctx.generatedAt)}</p>
<table><thead><tr><th>step</th><th>ok/sent</th><th>req/s</th><th>out tok/s</th><th>TTFT P50/P95/P99 ms</th><th>ITL P50/P95/P99 ms</th><th>E2E P50/P95/P99 ms</th><th>errors</th><th>goodput</th><th>SLOs</th><th>lag P99 ms</th></tr></thead>
<tbody>${rows}</tbody></table>
<div class="charts" id="charts"></div>
<h2>Definitions</h2><ul>${defs}</ul>
<script>${js}</script>
<script>
const DATA = ${JSON.stringify(data)};
const colors = ['#1f77b4', '#ff7f0e', '#d62728', '#2ca02c'];
for (const chart of DATA.charts) {
  const names = Object.keys(chart.series);
  const el = document.createElement('div');
  document.getElementById('charts').appendChild(el);
  new uPlot({
    title: chart.title, width: 520, height: 300, scales: { x: { time: false } },
    axes: [{ label: DATA.xName }, {}],
    series: [{ label: DATA.xName }, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], width: 2, points: { show: true } }))],
  }, [DATA.xs, ...names.map((n) => chart.series[n])], el);
}
</script>
</body></html>
`;
}
