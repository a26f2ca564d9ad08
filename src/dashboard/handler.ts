// HTTP for the dashboard: the page at `/`, its assets under `/assets/`, JSON under `/api/`. Returns
// false for every other path so the gateway can mount it in front of (or behind) its own routes.
// Authentication is the gateway's job: it checks the API key before calling `handle`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FleetError } from '../errors.ts';
import type { AssetName } from './assets.ts';
import { ASSET_FILES, loadAssets } from './assets.ts';
import type { DashboardDeps } from './deps.ts';
import { EventHub } from './events.ts';
import { pageHtml } from './page.ts';
import { Views } from './views.ts';
import { parseWindow } from './window.ts';

export interface Dashboard {
  /** Serves the request when the dashboard owns its path; false otherwise (nothing written). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Ends open event streams (call before closing the server). */
  close(): void;
}

const DEFAULT_REFRESH_MS = 5_000;

export function createDashboard(deps: DashboardDeps): Dashboard {
  const views = new Views(deps);
  const hub = new EventHub(deps.health, deps.refreshIntervalMs ?? DEFAULT_REFRESH_MS, () => views.nowMs());

  async function serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      if (!(await methodOk(req, res))) return true;
      const assets = await loadAssets();
      send(res, 200, 'text/html; charset=utf-8', pageHtml(deps.fleet.name, assets), req.method === 'HEAD');
      return true;
    }
    if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (!Object.hasOwn(ASSET_FILES, name)) return false;
      if (!(await methodOk(req, res))) return true;
      const asset = (await loadAssets()).get(name as AssetName);
      if (!asset) return false;
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, { etag: asset.etag }).end();
        return true;
      }
      res.writeHead(200, {
        'content-type': asset.contentType,
        'content-length': asset.body.length,
        etag: asset.etag,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return true;
    }
    if (!path.startsWith('/api/')) return false;
    if (!(await methodOk(req, res))) return true;
    const parts = path.slice('/api/'.length).split('/').map(decodeURIComponent);
    const window = parseWindow(url.searchParams.get('window'));
    if (window === undefined) {
      apiError(res, 400, 'bad_window', `window must be one of 1h, 24h, 7d, 30d`);
      return true;
    }
    switch (parts[0]) {
      case 'overview':
        json(res, await views.overview(window));
        return true;
      case 'endpoints': {
        const name = parts[1];
        if (name === undefined || name === '') {
          json(res, (await views.overview(window)).endpoints);
          return true;
        }
        const detail = await views.endpoint(name, window);
        if (!detail) apiError(res, 404, 'unknown_endpoint', `no endpoint named '${name}' in the fleet`);
        else json(res, detail);
        return true;
      }
      case 'routing':
        json(res, views.routing());
        return true;
      case 'route': {
        const request = parseRoute(url.searchParams);
        if (typeof request === 'string') apiError(res, 400, 'bad_route_query', request);
        else json(res, views.route(request));
        return true;
      }
      case 'health':
        json(res, { atMs: views.nowMs(), states: Object.fromEntries(views.healthStates()) });
        return true;
      case 'events':
        hub.attach(res);
        return true;
      default:
        apiError(res, 404, 'unknown_api', `no dashboard API at ${path}`);
        return true;
    }
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
      try {
        return await serve(req, res, url);
      } catch (error) {
        if (res.headersSent) {
          res.destroy(error instanceof Error ? error : undefined);
          return true;
        }
        if (error instanceof FleetError) apiError(res, 500, error.code, error.message, error.hint);
        else apiError(res, 500, 'dashboard_error', error instanceof Error ? error.message : String(error));
        return true;
      }
    },
    close: () => {
      hub.close();
      views.close();
    },
  };
}

async function methodOk(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.setHeader('allow', 'GET, HEAD');
  apiError(res, 405, 'method_not_allowed', `${req.method ?? ''} is not allowed here; use GET`);
  return false;
}

function parseRoute(
  params: URLSearchParams,
): { task: string; promptTokens: number; maxTokens?: number } | string {
  const task = (params.get('task') ?? '').trim();
  if (task === '')
    return 'task is required (code, classification, embedding, reasoning, lightweight, an alias, or auto)';
  const tokens = count(params.get('tokens'));
  if (tokens === undefined) return 'tokens must be a whole number of prompt tokens, e.g. 52000 or 52k';
  const maxRaw = params.get('maxTokens');
  if (maxRaw === null || maxRaw.trim() === '') return { task, promptTokens: tokens };
  const maxTokens = count(maxRaw);
  if (maxTokens === undefined) return 'maxTokens must be a whole number of tokens';
  return { task, promptTokens: tokens, maxTokens };
}

/** The same spelling `llm-fleet route --tokens` accepts: 52000, 52_000, 52,000, 52k. */
function count(raw: string | null): number | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const n = Number(raw.trim().replace(/[_,]/g, '').replace(/k$/i, '000'));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

function json(res: ServerResponse, body: unknown, status = 200): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function apiError(res: ServerResponse, status: number, code: string, message: string, hint?: string): void {
  json(res, { error: { code, message, ...(hint === undefined ? {} : { hint }) } }, status);
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headOnly = false,
): void {
  const bytes = Buffer.from(body);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': bytes.length,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(headOnly ? undefined : bytes);
}
