// Draws bench/routing-goodput.ts's JSON as an SVG: goodput and TTFT P95 (worst task, chat tasks)
// against offered load, one line per policy. Run:
//   npx node bench/routing-goodput-chart.ts docs/routing-goodput.json docs/routing-goodput.svg
import { readFileSync, writeFileSync } from 'node:fs';

interface Step {
  policy: string;
  offeredRate: number;
  goodput: number;
  shedRate: number;
  ttftMs: Record<string, { p95: number | null }>;
}

const [input = 'docs/routing-goodput.json', output = 'docs/routing-goodput.svg'] = process.argv.slice(2);
const data = JSON.parse(readFileSync(input, 'utf8')) as { results: Step[] };
const policies = [...new Set(data.results.map((r) => r.policy))];
const colors: Record<string, string> = { static: '#d62728', slo: '#2ca02c', 'least-busy': '#1f77b4' };
const W = 360;
const H = 240;
const M = { l: 48, r: 12, t: 28, b: 36 };

function panel(
  x0: number,
  title: string,
  yLabel: string,
  value: (s: Step) => number | null,
  logY = false,
): string {
  const rates = data.results.map((r) => r.offeredRate);
  const xs = [Math.min(...rates), Math.max(...rates)];
  const values = data.results.map(value).filter((v): v is number => v !== null && v > 0);
  const yMax = Math.max(...values) * 1.1;
  const yMin = logY ? Math.max(1, Math.min(...values) / 1.5) : 0;
  const sx = (v: number) =>
    x0 + M.l + ((v - (xs[0] as number)) / ((xs[1] as number) - (xs[0] as number) || 1)) * (W - M.l - M.r);
  const sy = (v: number) =>
    logY
      ? H - M.b - ((Math.log(v) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin))) * (H - M.t - M.b)
      : H - M.b - ((v - yMin) / (yMax - yMin)) * (H - M.t - M.b);
  let svg = `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${title}</text>`;
  svg += `<line x1="${x0 + M.l}" y1="${H - M.b}" x2="${x0 + W - M.r}" y2="${H - M.b}" stroke="#333"/>`;
  svg += `<line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${H - M.b}" stroke="#333"/>`;
  for (const r of [...new Set(rates)])
    svg += `<text x="${sx(r)}" y="${H - M.b + 14}" text-anchor="middle">${r}</text>`;
  svg += `<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle">offered load (req/s)</text>`;
  const ticks = logY
    ? [1, 10, 100, 1000, 10000, 100000].filter((t) => t >= yMin && t <= yMax)
    : [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(yMax * f * 10) / 10);
  for (const t of ticks)
    svg += `<text x="${x0 + M.l - 4}" y="${sy(t) + 4}" text-anchor="end">${t}</text><line x1="${x0 + M.l}" y1="${sy(t)}" x2="${x0 + W - M.r}" y2="${sy(t)}" stroke="#eee"/>`;
  svg += `<text transform="translate(${x0 + 12},${H / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`;
  for (const p of policies) {
    const pts = data.results
      .filter((r) => r.policy === p)
      .map((r) => [r.offeredRate, value(r)] as const)
      .filter((pt): pt is readonly [number, number] => pt[1] !== null && pt[1] > 0);
    svg += `<polyline fill="none" stroke-width="2" stroke="${colors[p] ?? '#777'}" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`;
    for (const [x, y] of pts)
      svg += `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${colors[p] ?? '#777'}"/>`;
  }
  return svg;
}

const worstTtft = (s: Step): number | null => {
  const v = Object.entries(s.ttftMs)
    .filter(([k]) => k !== 'embeddings')
    .map(([, t]) => t.p95)
    .filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
};

let body = panel(0, 'Goodput (req/s meeting every objective)', 'req/s', (s) => s.goodput);
body += panel(W, 'TTFT P95, worst chat task (ms, log)', 'ms', worstTtft, true);
const legend = policies
  .map(
    (p, i) =>
      `<rect x="${20 + i * 110}" y="${H + 6}" width="12" height="12" fill="${colors[p] ?? '#777'}"/><text x="${36 + i * 110}" y="${H + 16}">${p}</text>`,
  )
  .join('');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 26}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>${body}${legend}</svg>\n`;
writeFileSync(output, svg);
process.stdout.write(`wrote ${output}\n`);
