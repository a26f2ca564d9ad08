// The routing page: the matrix as a table, and a form that asks /api/route — the same
// selectEndpoint `llm-fleet route` uses — where a request of a task and size goes, and why.
import type { RouteAnswer, RoutingView } from '../views.ts';
import { getJson } from './api.ts';
import { h } from './dom.ts';

const TASKS = ['auto', 'code', 'classification', 'embedding', 'reasoning', 'lightweight'];

export function renderRouting(root: HTMLElement, view: RoutingView, onError: (e: unknown) => void): void {
  const result = h('div', {
    id: 'route-result',
    class: 'route-result',
    role: 'status',
    'aria-live': 'polite',
  });
  const form = h(
    'form',
    { class: 'route-form', id: 'route-form' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'route-task' }, 'Task'),
      h(
        'select',
        { id: 'route-task', name: 'task' },
        TASKS.map((t) => h('option', { value: t, selected: t === 'code' }, t)),
        Object.keys(view.aliases).map((a) => h('option', { value: a }, `${a} (alias)`)),
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'route-tokens' }, 'Prompt tokens'),
      h('input', {
        id: 'route-tokens',
        name: 'tokens',
        type: 'number',
        min: 0,
        step: 1,
        value: 1000,
        required: true,
        inputmode: 'numeric',
      }),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'route-max' }, 'Max tokens (optional)'),
      h('input', {
        id: 'route-max',
        name: 'maxTokens',
        type: 'number',
        min: 0,
        step: 1,
        inputmode: 'numeric',
      }),
    ),
    h('button', { type: 'submit' }, 'Route'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    const params = new URLSearchParams();
    for (const [k, v] of data) if (typeof v === 'string' && v !== '') params.set(k, v);
    getJson<RouteAnswer>(`/api/route?${params}`)
      .then((answer) => result.replaceChildren(...routeAnswer(answer)))
      .catch(onError);
  });
  root.replaceChildren(
    h(
      'section',
      { 'aria-labelledby': 'h-matrix' },
      h('h2', { id: 'h-matrix' }, 'Request routing decision matrix'),
      matrix(view),
    ),
    h(
      'section',
      { 'aria-labelledby': 'h-try' },
      h('h2', { id: 'h-try' }, 'Where would a request go?'),
      form,
      result,
    ),
  );
}

function matrix(view: RoutingView): HTMLElement {
  return h(
    'table',
    { class: 'matrix' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Task type', 'Token count', 'Endpoint', 'Env var', 'Fallbacks', 'Rationale'].map((c) =>
          h('th', { scope: 'col' }, c),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      view.rules.map((r) =>
        h(
          'tr',
          {},
          h('td', {}, r.taskLabel),
          h('td', {}, r.tokenLabel),
          h('td', {}, h('a', { href: `#/endpoint/${encodeURIComponent(r.endpoint)}` }, r.endpoint)),
          h('td', {}, h('code', {}, r.env ?? '')),
          h('td', {}, r.fallbacks.join(', ') || '—'),
          h('td', {}, r.rationale),
        ),
      ),
      h(
        'tr',
        { class: 'muted' },
        h('td', {}, 'anything else'),
        h('td', {}, 'Any'),
        h('td', {}, view.defaultEndpoint),
        h('td', {}, ''),
        h('td', {}, ''),
        h('td', {}, 'fleet default'),
      ),
    ),
  );
}

function routeAnswer(a: RouteAnswer): HTMLElement[] {
  const down = Object.entries(a.health)
    .filter(([, s]) => s === 'down')
    .map(([n]) => n);
  return [
    h(
      'p',
      { class: 'chosen' },
      a.endpoint
        ? h('strong', { 'data-route-endpoint': a.endpoint }, a.endpoint)
        : h('strong', { 'data-route-endpoint': '' }, 'no endpoint'),
      a.env ? ` (${a.env})` : '',
    ),
    h('p', { 'data-route-reason': '' }, a.reason),
    a.fallbacks.length > 0 ? h('p', {}, 'Then: ', a.fallbacks.map((f) => f.endpoint).join(' → ')) : null,
    a.skipped.length > 0
      ? h(
          'ul',
          { class: 'skipped' },
          a.skipped.map((s) => h('li', {}, `${s.endpoint}: ${s.why}`)),
        )
      : null,
    h(
      'p',
      { class: 'muted' },
      down.length > 0
        ? `Live health used: ${down.join(', ')} down.`
        : 'Live health used: nothing marked down.',
    ),
  ].filter((x): x is HTMLElement => x !== null);
}
