// One card per endpoint: identity, status, each objective's target beside the measured value, the
// error budget left and open recalibration triggers. Also used at the top of the endpoint page.
import type { DeprecatedCard, EndpointCard, ObjectiveView, Overview } from '../views.ts';
import { aggregateText, rateWindowsText } from '../../slo/aggregate-rate.ts';
import { recoveryText } from '../../slo/recovery.ts';
import { h } from './dom.ts';
import { clock, duration, inUnit, percent, tokens, when } from './format.ts';

const VERDICT_TEXT: Record<string, string> = {
  ok: 'met',
  breach: 'breached',
  'no-data': 'no data',
  'not-enough-data': 'not enough data',
  'ci-skip': 'CI: not judged',
  'best-effort': 'best-effort',
};

export function statusText(card: EndpointCard, nowMs: number): string {
  switch (card.state) {
    case 'down':
      return card.sinceMs === undefined
        ? 'down'
        : `down since ${when(card.sinceMs, nowMs)} (${duration(nowMs - card.sinceMs)})`;
    case 'degraded':
      return card.replicas?.some((r) => r.state === 'down')
        ? `degraded (${card.replicas.filter((r) => r.state === 'down').length} of ${card.replicas.length} replicas down)`
        : 'degraded (host has an endpoint down)';
    case 'planned':
      return 'planned — not routable';
    case 'unknown':
      return 'no health data yet';
    default:
      return card.state;
  }
}

export function endpointCard(card: EndpointCard, nowMs: number, linked: boolean): HTMLElement {
  const title = linked
    ? h(
        'a',
        { href: `#/endpoint/${encodeURIComponent(card.name)}`, 'data-focus': `card-${card.name}` },
        card.name,
      )
    : card.name;
  const hostLine = [card.host.address, card.port].filter((x) => x !== undefined && x !== '').join(':');
  return h(
    'article',
    {
      class: `card state-${card.state}`,
      'data-key': card.name,
      'data-endpoint': card.name,
      'data-state': card.state,
      'aria-labelledby': `card-title-${card.name}`,
    },
    h(
      'header',
      { class: 'card-head' },
      h('h2', { id: `card-title-${card.name}` }, title),
      h('span', { class: `badge state-${card.state}`, 'data-role': 'status' }, statusText(card, nowMs)),
    ),
    h(
      'dl',
      { class: 'meta' },
      h('dt', {}, 'Env var'),
      h('dd', {}, h('code', {}, card.env)),
      // Where the gateway really reaches it: the env var's URL when it overrides the fleet file
      // (the demo's simulators), never the fleet file's host joined with another port.
      h('dt', {}, 'Reached at'),
      h(
        'dd',
        { 'data-role': 'address' },
        card.url ? h('code', {}, card.url) : 'port TBD',
        card.urlFromEnv ? ` (from ${card.env})` : '',
      ),
      ...(card.replicas
        ? [
            h('dt', {}, 'Replicas'),
            h(
              'dd',
              { 'data-role': 'replicas' },
              ...card.replicas.flatMap((r, i) => [
                i > 0 ? ' · ' : '',
                h('code', {}, r.url),
                ' ',
                h('span', { class: `badge state-${r.state}`, 'data-replica': r.id }, r.state),
              ]),
            ),
          ]
        : []),
      h('dt', {}, 'Host'),
      h(
        'dd',
        {},
        card.urlFromEnv
          ? `${card.host.name} (${card.host.address || '—'} in the fleet file)`
          : `${card.host.name} · ${hostLine || 'port TBD'}`,
      ),
      h('dt', {}, 'Hardware'),
      h('dd', {}, [card.hardware, card.host.description].filter(Boolean).join(' · ') || '—'),
      h('dt', {}, 'Model'),
      h('dd', {}, card.model),
      h('dt', {}, 'Context'),
      h(
        'dd',
        {},
        card.contextWindowTokens === undefined
          ? card.kind === 'embeddings'
            ? 'embeddings'
            : '—'
          : `${tokens(card.contextWindowTokens)} tokens`,
      ),
      h('dt', {}, 'Traffic'),
      h(
        'dd',
        { 'data-role': 'traffic' },
        `${card.requests.toLocaleString('en-US')} answered, ${card.errors.toLocaleString('en-US')} errors`,
        failedText(card),
      ),
    ),
    card.cause && card.state === 'down' ? h('p', { class: 'cause' }, `Cause: ${card.cause}`) : null,
    objectivesTable(card.objectives, card.name),
    card.triggers.length > 0
      ? h(
          'section',
          { class: 'triggers', 'aria-label': `Recalibration triggers for ${card.name}` },
          h('h3', {}, 'Recalibrate'),
          h(
            'ul',
            {},
            card.triggers.map((t) =>
              h('li', { 'data-trigger': t.kind }, h('strong', {}, t.kind), ' — ', t.evidence),
            ),
          ),
        )
      : null,
  );
}

/** Attempts that failed here and went to a fallback: an endpoint in outage shows them. */
function failedText(card: EndpointCard): HTMLElement | string {
  const failed = card.failedAttempts ?? [];
  const n = failed.reduce((sum, f) => sum + f.count, 0);
  if (n === 0) return '';
  return h(
    'span',
    { class: 'failed', 'data-role': 'failed-attempts', 'data-count': n },
    `; ${n.toLocaleString('en-US')} failed here and went to a fallback (${failed.map((f) => `${f.cause} ${f.count}`).join(', ')})`,
  );
}

function objectivesTable(objectives: readonly ObjectiveView[], endpoint: string): HTMLElement {
  if (objectives.length === 0) return h('p', { class: 'muted' }, 'No objectives (best-effort).');
  return h(
    'table',
    { class: 'objectives' },
    h('caption', { class: 'visually-hidden' }, `Objectives of ${endpoint}`),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Objective'),
        h('th', { scope: 'col' }, 'Target'),
        h('th', { scope: 'col' }, 'Measured'),
        h('th', { scope: 'col' }, 'Budget left'),
      ),
    ),
    h(
      'tbody',
      {},
      objectives.map((o) =>
        h(
          'tr',
          {
            class: `verdict-${o.verdict}`,
            'data-objective': o.id,
            'data-verdict': o.verdict,
            'data-target': o.target,
            'data-threshold': o.threshold,
            'data-ratio': o.ratio,
            'data-total': o.total,
            title: o.reason,
          },
          h('th', { scope: 'row' }, label(o)),
          h('td', {}, target(o)),
          h(
            'td',
            {},
            measured(o),
            ' ',
            h('span', { class: 'verdict' }, VERDICT_TEXT[o.verdict] ?? o.verdict),
          ),
          h('td', {}, o.budgetRemaining === undefined ? '—' : budget(o.budgetRemaining), burnLine(o)),
        ),
      ),
    ),
  );
}

function label(o: ObjectiveView): string {
  switch (o.kind) {
    case 'ttft-p95':
      return 'TTFT P95';
    case 'ttft-p99':
      return 'TTFT P99';
    case 'throughput-sustained':
      return 'Sustained tok/s';
    case 'throughput-burst':
      return 'Burst tok/s';
    case 'embeddings-rate':
      return 'Embeddings/s';
    case 'availability':
      return 'Availability';
    case 'recovery':
      return 'Recovery';
    default:
      return o.kind;
  }
}

function target(o: ObjectiveView): string {
  switch (o.kind) {
    case 'ttft-p95':
    case 'ttft-p99':
      return `≤ ${inUnit(o.threshold ?? 0, o.unit)}`;
    case 'throughput-sustained':
    case 'throughput-burst':
    case 'embeddings-rate':
      return `≥ ${inUnit(o.threshold ?? 0, o.unit)}`;
    case 'availability':
      return o.verdict === 'best-effort' ? 'best-effort' : `≥ ${percent(o.target, 1)}`;
    case 'recovery':
      return `≤ ${duration(o.threshold ?? 0)}`;
    default:
      return o.description;
  }
}

function measured(o: ObjectiveView): HTMLElement | string {
  if (o.kind === 'recovery')
    // The words `llm-fleet check` prints.
    return recoveryText(o.good, o.total, o.value);
  if (o.aggregate && (o.aggregate.units > 0 || o.aggregate.busyMs > 0))
    return h(
      'span',
      {},
      o.value === undefined ? '' : inUnit(o.value, o.unit),
      h('span', { class: 'sub' }, `${aggregateText(o.aggregate)} (aggregate)`),
    );
  if (o.ratio === undefined) {
    if (o.reason.startsWith('outside business hours')) return 'outside business hours';
    const batch = /only batches of at least (\d+) inputs count/.exec(o.reason);
    if (batch) return `no batches of ≥ ${batch[1]} inputs yet`;
    return o.kind === 'availability' ? 'no probes in the window' : 'no requests yet';
  }
  const what = o.kind === 'availability' ? 'probes' : 'requests';
  const share = `${percent(o.ratio, o.kind === 'availability' ? 2 : 1)} of ${o.total.toLocaleString('en-US')} ${what} good`;
  if (o.value === undefined || o.kind === 'availability') return share;
  return h('span', {}, inUnit(o.value, o.unit), h('span', { class: 'sub' }, share));
}

/** The 1 h burn rate and the alert the exported rules would be in now. */
function burnLine(o: ObjectiveView): HTMLElement | null {
  if (o.aggregate) {
    const firing = o.aggregate.firing ? 'ticket' : 'none';
    return h(
      'span',
      { class: `burn firing-${firing}`, 'data-role': 'burn', 'data-firing': firing },
      rateWindowsText(o.aggregate),
      o.aggregate.firing ? ' · rate alert' : '',
    );
  }
  const hour = o.burn?.windows.find((w) => w.windowMs === 3_600_000)?.burnRate;
  if (!o.burn || hour === undefined) return null;
  return h(
    'span',
    { class: `burn firing-${o.burn.firing}`, 'data-role': 'burn', 'data-firing': o.burn.firing },
    `burn ${Math.round(hour * 10) / 10}× (1h)`,
    o.burn.firing === 'none' ? '' : ` · ${o.burn.firing} alert`,
  );
}

function budget(left: number): HTMLElement {
  const shown = Math.max(0, Math.min(1, left));
  return h(
    'span',
    { class: 'budget' },
    h('meter', { min: 0, max: 1, low: 0.25, high: 0.5, optimum: 1, value: shown, 'aria-hidden': 'true' }),
    ' ',
    left <= 0 ? 'spent' : percent(shown, 0),
  );
}

/** The fleet header: endpoints up/degraded/down, objectives met/at risk/breached, worst burn, incidents, failovers. */
export function fleetHeader(o: Overview): HTMLElement {
  const s = o.summary;
  const stat = (role: string, value: string | number, text: string, tone = ''): HTMLElement =>
    h('div', { class: `stat ${tone}`, 'data-stat': role }, h('strong', {}, String(value)), ` ${text}`);
  const e = s.endpoints;
  const ob = s.objectives;
  const failed = s.failovers.counts.reduce((n, c) => n + c.count, 0);
  return h(
    'section',
    { class: 'fleet-header', 'aria-label': 'Fleet summary', 'data-key': 'fleet-header' },
    h(
      'div',
      { class: 'stats' },
      stat('up', e.up, 'up', 'good'),
      stat('degraded', e.degraded, 'degraded', e.degraded > 0 ? 'warn' : ''),
      stat('down', e.down, 'down', e.down > 0 ? 'bad' : ''),
      stat('met', ob.met, 'objectives met', 'good'),
      stat('at-risk', ob.atRisk, 'at risk', ob.atRisk > 0 ? 'warn' : ''),
      stat('breached', ob.breached, 'breached', ob.breached > 0 ? 'bad' : ''),
      stat('not-enough-data', ob.notEnoughData, 'not enough data'),
      stat(
        'worst-burn',
        s.worstBurn ? `${Math.round(s.worstBurn.burnRate * 10) / 10}×` : '—',
        s.worstBurn ? `worst burn (1h, ${s.worstBurn.objective})` : 'worst burn',
        s.worstBurn && s.worstBurn.burnRate >= 14.4
          ? 'bad'
          : s.worstBurn && s.worstBurn.burnRate > 1
            ? 'warn'
            : '',
      ),
      stat('incidents', s.openIncidents.length, 'open incidents', s.openIncidents.length > 0 ? 'bad' : ''),
      stat('failovers', failed, `failovers, ${s.failovers.rescues} streams rescued`),
    ),
    s.openIncidents.length > 0
      ? h(
          'p',
          { class: 'incidents', 'data-role': 'open-incidents' },
          'Open: ',
          s.openIncidents.map((i) => `${i.endpoint} ${i.cause} since ${when(i.sinceMs, o.nowMs)}`).join('; '),
        )
      : null,
    s.failovers.counts.length > 0
      ? h(
          'details',
          { class: 'failovers', 'data-role': 'failovers', open: '' },
          h('summary', {}, `Failover and rescue since ${when(s.failovers.fromMs, o.nowMs)}`),
          h(
            'ul',
            { class: 'failover-counts' },
            s.failovers.counts.map((c) =>
              h(
                'li',
                { 'data-failover': `${c.endpoint}:${c.cause}` },
                h('strong', {}, String(c.count)),
                ` ${c.endpoint} · ${c.cause}`,
              ),
            ),
          ),
          h(
            'ol',
            { class: 'failover-last', 'aria-label': 'Latest failovers' },
            s.failovers.last.map((l) =>
              h('li', {}, h('time', {}, clock(l.atMs)), ` ${l.route} → ${l.outcome} via ${l.path}`),
            ),
          ),
        )
      : null,
  );
}

export function deprecatedCard(d: DeprecatedCard): HTMLElement {
  return h(
    'article',
    { class: 'card state-deprecated', 'data-key': `deprecated-${d.env}`, 'data-state': 'deprecated' },
    h(
      'header',
      { class: 'card-head' },
      h('h2', {}, d.env),
      h('span', { class: 'badge state-deprecated' }, 'deprecated'),
    ),
    h(
      'dl',
      { class: 'meta' },
      h('dt', {}, 'Old value'),
      h('dd', {}, h('code', {}, d.url)),
      h('dt', {}, 'Status'),
      h('dd', {}, d.status),
      h('dt', {}, 'Use instead'),
      h('dd', {}, d.replacements.join(', ') || '—'),
    ),
    d.note ? h('p', { class: 'muted' }, d.note) : null,
  );
}
