// The endpoint page: TTFT percentiles against their targets, decode rate against its floors,
// traffic and errors, the availability timeline (business hours shaded, incidents marked against
// the recovery SLO), calibration runs and the routing rules that send traffic here.
import type { EndpointDetail } from '../views.ts';
import { endpointCard } from './cards.ts';
import { Chart } from './charts.ts';
import { h, patch } from './dom.ts';
import { clock, duration, number, when } from './format.ts';

const COLORS = {
  p50: '#1f5fa8',
  p95: '#b35c00',
  p99: '#8a1c7c',
  target: '#444',
  floor: '#444',
  err: '#b3141b',
};

export class EndpointPage {
  readonly name: string;
  readonly #root: HTMLElement;
  readonly #card: HTMLElement;
  readonly #ttft: Chart;
  readonly #rate: Chart;
  readonly #traffic: Chart;
  readonly #budgetEl: HTMLElement;
  /** Created at the first answer: one line per objective the endpoint has. */
  #budget: Chart | undefined;
  #budgetLabels = '';
  readonly #timeline: HTMLElement;
  readonly #tables: HTMLElement;
  readonly #onResize = (): void => {
    for (const c of [this.#ttft, this.#rate, this.#traffic, this.#budget]) c?.resize();
  };

  constructor(root: HTMLElement, name: string) {
    this.name = name;
    this.#root = root;
    this.#card = h('div', { class: 'single' });
    const ttftEl = h('div', { class: 'chart', 'data-chart': 'ttft' });
    const rateEl = h('div', { class: 'chart', 'data-chart': 'rate' });
    const trafficEl = h('div', { class: 'chart', 'data-chart': 'traffic' });
    this.#budgetEl = h('div', { class: 'chart', 'data-chart': 'budget' });
    this.#timeline = h('div', { class: 'timeline-wrap' });
    this.#tables = h('div', { class: 'tables' });
    root.replaceChildren(
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Overview')),
      this.#card,
      h(
        'div',
        { class: 'charts' },
        h(
          'section',
          { 'aria-labelledby': 'h-ttft' },
          h('h2', { id: 'h-ttft' }, 'Time to first token'),
          ttftEl,
        ),
        h('section', { 'aria-labelledby': 'h-rate' }, h('h2', { id: 'h-rate' }, 'Decode rate'), rateEl),
        h(
          'section',
          { 'aria-labelledby': 'h-traffic' },
          h('h2', { id: 'h-traffic' }, 'Requests and errors per minute'),
          trafficEl,
        ),
        h(
          'section',
          { 'aria-labelledby': 'h-budget' },
          h('h2', { id: 'h-budget' }, 'Error budget left over the window'),
          this.#budgetEl,
        ),
      ),
      h(
        'section',
        { 'aria-labelledby': 'h-avail' },
        h('h2', { id: 'h-avail' }, 'Availability'),
        this.#timeline,
      ),
      this.#tables,
    );
    this.#ttft = new Chart(ttftEl, 'ms', [
      { label: 'P50', color: COLORS.p50 },
      { label: 'P95', color: COLORS.p95 },
      { label: 'P99', color: COLORS.p99 },
      { label: 'P95 target', color: COLORS.p95, dash: [6, 4], width: 1.5 },
      { label: 'P99 target', color: COLORS.p99, dash: [2, 3], width: 1.5 },
    ]);
    this.#rate = new Chart(rateEl, 'tokens/s', [
      { label: 'P50 decode', color: COLORS.p50 },
      { label: 'sustained floor', color: COLORS.floor, dash: [6, 4], width: 1.5 },
      { label: 'burst', color: COLORS.p95, dash: [2, 3], width: 1.5 },
    ]);
    this.#traffic = new Chart(trafficEl, 'per min', [
      { label: 'requests', color: COLORS.p50 },
      { label: 'errors', color: COLORS.err },
    ]);
    addEventListener('resize', this.#onResize);
  }

  update(d: EndpointDetail): void {
    patch(this.#card, [endpointCard(d.card, d.nowMs, false)]);
    // A window longer than the data (a fresh demo in 1 h) starts a few steps before the first
    // traffic, so the data is not squashed into the last pixels.
    const first = d.series.findIndex((p) => p.requests > 0);
    const series = first > 3 ? d.series.slice(first - 3) : d.series;
    d = { ...d, series };
    const xs = d.series.map((p) => p.atMs);
    const flat = (v: number | undefined): (number | null)[] => xs.map(() => v ?? null);
    const perMinute = d.range.stepMs / 60_000;
    this.#ttft.setData(xs, [
      d.series.map((p) => p.ttftP50Ms),
      d.series.map((p) => p.ttftP95Ms),
      d.series.map((p) => p.ttftP99Ms),
      flat(d.targets.ttftP95Ms),
      flat(d.targets.ttftP99Ms),
    ]);
    this.#rate.setData(xs, [
      d.series.map((p) => p.decodeTokensPerSecondP50),
      flat(d.targets.sustainedTokensPerSecond),
      flat(d.targets.burstTokensPerSecond),
    ]);
    this.#traffic.setData(xs, [
      d.series.map((p) => round(p.requests / perMinute)),
      d.series.map((p) => round(p.errors / perMinute)),
    ]);
    this.#root
      .querySelector('[data-chart="ttft"]')
      ?.setAttribute('data-targets', `${d.targets.ttftP95Ms ?? ''},${d.targets.ttftP99Ms ?? ''}`);
    this.#root.querySelector('[data-chart="ttft"]')?.setAttribute('data-points', String(xs.length));
    // Failovers away from this endpoint, as dashed red lines on every chart.
    const markers = d.failovers.map((f) => f.atMs);
    for (const c of [this.#ttft, this.#rate, this.#traffic]) c.setMarkers(markers);
    this.#updateBudget(d);
    patch(this.#timeline, [timeline(d)]);
    patch(this.#tables, [burnTable(d), incidentsTable(d), calibrationTable(d), rulesTable(d)]);
    // Which API answer the tables show (burn rates and alert states move with the clock; tests match
    // the DOM against that answer, not against an older one).
    this.#tables.setAttribute('data-now', String(d.nowMs));
  }

  /** One line per judged objective: the budget left from the window's start up to each step. */
  #updateBudget(d: EndpointDetail): void {
    const labels = d.budget.map((b) => b.label).join('\n');
    if (!this.#budget || this.#budgetLabels !== labels) {
      this.#budget?.destroy();
      this.#budgetEl.replaceChildren();
      this.#budgetLabels = labels;
      const palette = [COLORS.p50, COLORS.p95, COLORS.p99, COLORS.floor, COLORS.err, '#8250df'];
      this.#budget = new Chart(
        this.#budgetEl,
        '% left',
        d.budget.map((b, i) => ({ label: b.label, color: palette[i % palette.length] as string })),
      );
      this.#budgetEl.setAttribute('data-lines', String(d.budget.length));
    }
    const first = d.budgetAtMs.findIndex((_, i) => d.budget.some((b) => b.points[i] !== null));
    const from = first > 3 ? first - 3 : 0;
    this.#budget.setData(
      d.budgetAtMs.slice(from),
      d.budget.map((b) => b.points.slice(from).map((p) => (p === null ? null : Math.max(0, p) * 100))),
    );
    this.#budget.setMarkers(d.failovers.map((f) => f.atMs));
  }

  destroy(): void {
    removeEventListener('resize', this.#onResize);
    for (const c of [this.#ttft, this.#rate, this.#traffic, this.#budget]) c?.destroy();
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function timeline(d: EndpointDetail): HTMLElement {
  const from = d.range.fromMs;
  const span = d.range.toMs - from;
  const pos = (ms: number): string => `${(Math.max(0, Math.min(span, ms - from)) / span) * 100}%`;
  const width = (s: number, e: number): string =>
    `${(Math.max(0, Math.min(d.range.toMs, e) - Math.max(from, s)) / span) * 100}%`;
  const a = d.availability;
  const always = a.window === 'always';
  return h(
    'figure',
    { class: 'timeline', 'data-key': 'timeline' },
    h(
      'div',
      {
        class: 'bar',
        role: 'img',
        'aria-label': `Availability over the window: ${a.incidents.length} incident(s)`,
      },
      always
        ? null
        : a.businessHours.map(([s, e]) =>
            h('span', { class: 'hours', style: `left:${pos(s)};width:${width(s, e)}` }),
          ),
      a.incidents.map((i) =>
        h('span', {
          class: `incident ${i.verdict === 'exceeded' ? 'late' : i.verdict === 'open' ? 'open' : 'ok'}`,
          style: `left:${pos(i.startedAtMs)};width:max(3px, ${width(i.startedAtMs, i.endedAtMs ?? d.nowMs)})`,
          title: `${i.cause}: ${duration(i.durationMs)}`,
        }),
      ),
      h('span', { class: 'now', style: `left:${pos(d.nowMs)}` }),
    ),
    h(
      'div',
      { class: 'axis' },
      h('span', {}, when(from, d.nowMs)),
      h('span', {}, when(d.range.toMs, d.nowMs)),
    ),
    h(
      'figcaption',
      {},
      always
        ? 'Judged around the clock. '
        : h(
            'span',
            {},
            h('span', { class: 'swatch hours' }),
            ` ${a.window}${a.timeZone ? ` (${a.timeZone})` : ''} shaded. `,
          ),
      h('span', { class: 'swatch incident ok' }),
      ' outage recovered in time ',
      h('span', { class: 'swatch incident late' }),
      ' over the recovery SLO ',
      h('span', { class: 'swatch incident open' }),
      ' ongoing',
    ),
  );
}

function table(
  key: string,
  caption: string,
  head: string[],
  rows: HTMLElement[],
  empty: string,
): HTMLElement {
  return h(
    'section',
    { 'data-key': key, class: 'table-section' },
    h('h2', {}, caption),
    rows.length === 0
      ? h('p', { class: 'muted' }, empty)
      : h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              head.map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h('tbody', {}, rows),
        ),
  );
}

/** 5m, 1h, 3d: the exported rules' spelling. */
function span(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${ms / 60_000}m`;
}

/**
 * Per objective, the burn rate over every window the exported Prometheus alert rules use, and the
 * state each of those alerts would be in now (both of its windows above its factor: firing).
 */
function burnTable(d: EndpointDetail): HTMLElement {
  const judged = d.card.objectives.filter((o) => o.burn);
  const windows = judged[0]?.burn?.windows.map((w) => w.windowMs) ?? [];
  const rows = judged.map((o) =>
    h(
      'tr',
      { 'data-burn': o.id, 'data-firing': o.burn?.firing },
      h('th', { scope: 'row' }, o.description),
      windows.map((ms) => {
        const rate = o.burn?.windows.find((w) => w.windowMs === ms)?.burnRate;
        return h('td', {}, rate === undefined ? '—' : `${Math.round(rate * 10) / 10}×`);
      }),
      h(
        'td',
        {},
        (o.burn?.alerts ?? []).map((a) =>
          h(
            'span',
            {
              class: `alert ${a.firing ? `firing-${a.severity}` : 'quiet'}`,
              'data-alert': a.name,
              'data-firing': String(a.firing),
              title: `${a.factor}× over ${span(a.shortWindowMs)} and ${span(a.longWindowMs)}`,
            },
            `${a.name} ${a.firing ? 'firing' : 'ok'}`,
          ),
        ),
      ),
    ),
  );
  return table(
    'burn',
    'Burn rates and alert state',
    ['Objective', ...windows.map(span), 'Alerts (as the exported rules would be now)'],
    rows,
    'No judged objectives.',
  );
}

function incidentsTable(d: EndpointDetail): HTMLElement {
  const rows = [...d.availability.incidents].reverse().map((i) =>
    h(
      'tr',
      {
        'data-incident': i.startedAtMs,
        'data-verdict': i.verdict,
        class: i.verdict === 'exceeded' ? 'verdict-breach' : '',
      },
      h('td', {}, when(i.startedAtMs, d.nowMs)),
      h('td', {}, i.endedAtMs === undefined ? 'ongoing' : clock(i.endedAtMs)),
      h('td', {}, duration(i.durationMs)),
      h('td', {}, i.recoveryMs === undefined ? '—' : duration(i.recoveryMs)),
      h('td', {}, i.verdict === 'open' ? 'ongoing, within SLO so far' : i.verdict),
      h('td', {}, i.cause),
    ),
  );
  return table(
    'incidents',
    'Incidents',
    ['Start', 'End', 'Duration', 'Recovery SLO', 'Recovery', 'Cause'],
    rows,
    'No incidents in this window.',
  );
}

function calibrationTable(d: EndpointDetail): HTMLElement {
  const rows = d.calibrationRuns.map((r) =>
    h(
      'tr',
      {},
      h('td', {}, when(r.atMs, d.nowMs)),
      h('td', {}, String(r.iterations)),
      h(
        'td',
        {},
        Object.entries(r.measured)
          .map(([k, v]) => `${k} ${number(v)}`)
          .join(' · '),
      ),
      h(
        'td',
        {},
        Object.entries(r.proposed)
          .map(([k, v]) => `${k} ${number(v)}`)
          .join(' · '),
      ),
      h('td', {}, r.note ?? ''),
    ),
  );
  return table(
    'calibration',
    'Calibration runs',
    ['When', 'Iterations', 'Measured', 'Proposed', 'Note'],
    rows,
    'No calibration runs recorded (run `llm-fleet calibrate`).',
  );
}

function rulesTable(d: EndpointDetail): HTMLElement {
  const rows = d.routingRules.map((r) =>
    h(
      'tr',
      {},
      h('td', {}, r.taskLabel),
      h('td', {}, r.tokenLabel),
      h('td', {}, r.role === 'primary' ? 'first choice' : `fallback for ${r.endpoint}`),
      h('td', {}, r.rationale),
    ),
  );
  return table(
    'rules',
    'Routing rules that send traffic here',
    ['Task', 'Tokens', 'Role', 'Rationale'],
    rows,
    'No routing rule names this endpoint (reachable by name only).',
  );
}
