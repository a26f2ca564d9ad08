// The page's entry point: hash routes (#/, #/endpoint/<name>, #/routing), the window selector, the
// live connection, and the API key prompt. Each view re-reads its aggregated JSON on every event.
import type { EndpointDetail, Overview, RoutingView } from '../views.ts';
import { AuthRequired, captureKeyFromUrl, getJson, readEvents, setKey } from './api.ts';
import { deprecatedCard, endpointCard, fleetHeader } from './cards.ts';
import { h, patch } from './dom.ts';
import { zonedClock } from './format.ts';
import { EndpointPage } from './endpoint-page.ts';
import { renderRouting } from './routing-page.ts';

const WINDOW_STORAGE = 'llm-fleet-window';

const main = document.getElementById('main') as HTMLElement;
const windowSelect = document.getElementById('window') as HTMLSelectElement;
const live = document.getElementById('live') as HTMLElement;
const keyForm = document.getElementById('key-form') as HTMLFormElement;

let endpointPage: EndpointPage | undefined;
let routeShown: string | undefined;
let inFlight: Promise<void> | undefined;
let again = false;
let lastUpdateMs = 0;
/**
 * Set once the window is the visitor's choice (stored, or picked). Until then the page follows the
 * server's suggestion on every refresh: a fresh fleet has no request stored yet at the first answer
 * (the gateway writes in batches), so a suggestion taken once would keep the 24 h default for good.
 */
let windowChosen = sessionStorage.getItem(WINDOW_STORAGE) !== null;

function route(): { view: 'overview' | 'routing' | 'endpoint'; name?: string } {
  const hash = location.hash.replace(/^#\/?/, '');
  if (hash.startsWith('endpoint/')) return { view: 'endpoint', name: decodeURIComponent(hash.slice(9)) };
  if (hash === 'routing') return { view: 'routing' };
  return { view: 'overview' };
}

function showError(error: unknown): void {
  if (error instanceof AuthRequired) {
    keyForm.hidden = false;
    live.textContent = 'API key needed';
    (document.getElementById('key') as HTMLInputElement).focus();
    return;
  }
  live.textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
}

async function render(): Promise<void> {
  const r = route();
  const key = `${r.view}/${r.name ?? ''}`;
  for (const a of document.querySelectorAll('[data-nav]'))
    a.toggleAttribute(
      'aria-current',
      a.getAttribute('data-nav') === (r.view === 'routing' ? 'routing' : 'overview'),
    );
  const window = windowSelect.value;
  if (routeShown !== key) {
    endpointPage?.destroy();
    endpointPage = undefined;
    main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  }
  if (r.view === 'overview') {
    const o = await getJson<Overview>(`/api/overview?window=${window}`);
    // A fresh fleet (the demo) gets the window that holds its data, unless the visitor chose one.
    if (!windowChosen && o.summary.suggestedWindow !== window) {
      windowSelect.value = o.summary.suggestedWindow;
      return render();
    }
    let grid = main.querySelector<HTMLElement>('.cards');
    let header = main.querySelector<HTMLElement>('.fleet-slot');
    if (!grid || !header || routeShown !== key) {
      grid = h('div', { class: 'cards', 'data-view': 'overview' });
      header = h('div', { class: 'fleet-slot' });
      main.replaceChildren(header, h('h2', { class: 'visually-hidden' }, 'Endpoints'), grid);
    }
    patch(header, [fleetHeader(o)]);
    patch(grid, [
      ...o.endpoints.map((c) => endpointCard(c, o.nowMs, true)),
      ...o.deprecated.map(deprecatedCard),
    ]);
    // Which API answer the DOM shows (tests match the two exactly).
    grid.setAttribute('data-now', String(o.nowMs));
    document.title = `${o.fleet.name} · llm-fleet`;
  } else if (r.view === 'endpoint' && r.name !== undefined) {
    const d = await getJson<EndpointDetail>(`/api/endpoints/${encodeURIComponent(r.name)}?window=${window}`);
    if (!endpointPage || endpointPage.name !== r.name) {
      main.replaceChildren();
      endpointPage = new EndpointPage(main, r.name);
    }
    endpointPage.update(d);
    document.title = `${r.name} · llm-fleet`;
  } else if (routeShown !== key) {
    renderRouting(main, await getJson<RoutingView>('/api/routing'), showError);
    document.title = 'Routing · llm-fleet';
  }
  routeShown = key;
  lastUpdateMs = Date.now();
  main.setAttribute('data-updated', String(lastUpdateMs));
}

/** Coalesces refresh requests: at most one fetch in flight, and one more after it if asked meanwhile. */
function refresh(): void {
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = render()
    .catch(showError)
    .finally(() => {
      inFlight = undefined;
      if (again) {
        again = false;
        refresh();
      }
    });
}

async function connect(): Promise<void> {
  for (;;) {
    const controller = new AbortController();
    try {
      live.textContent = 'live';
      live.className = 'live on';
      await readEvents((e) => {
        if (e.event === 'health' || e.event === 'refresh') {
          live.textContent = `live · ${zonedClock(Date.now())}`;
          refresh();
        }
      }, controller.signal);
    } catch (error) {
      if (error instanceof AuthRequired) {
        showError(error);
        return;
      }
    }
    live.textContent = 'reconnecting…';
    live.className = 'live off';
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

captureKeyFromUrl();
windowSelect.value = sessionStorage.getItem(WINDOW_STORAGE) ?? windowSelect.value;
windowSelect.addEventListener('change', () => {
  windowChosen = true;
  sessionStorage.setItem(WINDOW_STORAGE, windowSelect.value);
  refresh();
});
addEventListener('hashchange', () => {
  refresh();
  main.focus();
});
keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  setKey((document.getElementById('key') as HTMLInputElement).value);
  keyForm.hidden = true;
  refresh();
  void connect();
});
refresh();
void connect();
