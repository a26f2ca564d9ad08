// buildGateway(fleet, deps): the node:http server behind one OpenAI-compatible URL. Routes:
// POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models, /health,
// /fleet/health, /metrics; `/` and `/api/*` go to the dashboard when one is given.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { replicasOf, type Endpoint, type Fleet } from '../fleet/index.ts';
import type { Operation, RequestOutcome } from '../measure/record.ts';
import type { GatewayContext, GatewayDeps } from './context.ts';
import { createContext } from './context.ts';
import { handleEmbeddings } from './embeddings.ts';
import { handleGenerate, type Outcome } from './generate.ts';
import { HttpError, readBody, sendError, sendJson } from './http.ts';
import { rateClientFor, settleUsage } from './rate-limit.ts';
import { explainRoute } from './load/explain.ts';
import { PRIORITY_HEADER } from './load/place.ts';
import { loadKey } from './load/ledger.ts';
import { priorityOf, ROUTE_NAMES, TASK_HEADER } from './route-request.ts';
import { RequestTrace } from './trace.ts';
import { parseJsonBody } from './validate.ts';

export interface Gateway {
  readonly server: Server;
  readonly context: GatewayContext;
  readonly metrics: Registry;
  /** Listen (default 127.0.0.1, port 0 = any free port); resolves with the base URL. */
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

function keyMatches(presented: string, keys: readonly string[]): boolean {
  const p = Buffer.from(presented);
  let ok = false;
  for (const k of keys) {
    const b = Buffer.from(k);
    if (b.length === p.length && timingSafeEqual(b, p)) ok = true;
  }
  return ok;
}

export function buildGateway(fleet: Fleet, deps: GatewayDeps = {}): Gateway {
  const ctx = createContext(fleet, deps);
  const apiKeys = [...fleet.gateway.apiKeys, ...(deps.apiKeys ?? [])];
  const createdS = Math.floor(ctx.now() / 1000);

  /** The key the request presented ('' when none), or false when keys are required and it has none that fits. */
  function authorised(req: IncomingMessage, path: string): string | false {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const key =
      m?.[1]?.trim() ?? (typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : '');
    if (apiKeys.length === 0) return '';
    if (path === '/health' && !fleet.gateway.protectHealth) return '';
    if (path === '/metrics' && !fleet.gateway.protectMetrics) return '';
    // The dashboard's page and assets hold no fleet data; they must load to ask for the key.
    if (path === '/' || path.startsWith('/assets/')) return '';
    return key !== '' && keyMatches(key, apiKeys) ? key : false;
  }

  /**
   * Every name the gateway accepts as `model`: each served model id (the fleet file's `models`
   * too), each endpoint's name, inventory model name and variable, then the routes (`auto`, the tasks and
   * their aliases). `endpoint` says where a name goes first; `route: true` marks a route.
   */
  function models(): string {
    const data: Record<string, unknown>[] = [];
    const seen = new Set<string>();
    const add = (id: string, entry: Record<string, unknown>): void => {
      if (seen.has(id)) return;
      seen.add(id);
      data.push({ id, object: 'model', created: createdS, owned_by: 'llm-fleet', ...entry });
    };
    const running = fleet.endpoints.filter((e) => e.status === 'running' && e.url !== undefined);
    for (const e of running) {
      const about = { endpoint: e.name, kind: e.kind, context_window: e.contextWindowTokens ?? null };
      for (const id of e.servedModels ?? [e.servedModel]) add(id, about);
      add(e.name, { ...about, alias_of: e.servedModel });
      add(e.model, { ...about, alias_of: e.servedModel });
      // The seed names endpoints by their variable (LLM_CODER_URL); the router accepts that too.
      add(e.env, { ...about, alias_of: e.servedModel });
    }
    for (const r of ROUTE_NAMES) add(r, { route: true });
    for (const [alias, task] of Object.entries(fleet.routing.taskAliases)) add(alias, { route: true, task });
    return JSON.stringify({ object: 'list', data });
  }

  async function fleetHealth(): Promise<string> {
    const usage = await ctx.state.usage(fleet.endpoints.map((e) => e.name));
    const now = ctx.now();
    const degraded = ctx.health.degradedHosts();
    return JSON.stringify({
      status: fleet.endpoints.some((e) => e.status === 'running' && ctx.health.state(e.name) !== 'down')
        ? 'ok'
        : 'down',
      degradedHosts: degraded,
      endpoints: fleet.endpoints.map((e) => ({
        name: e.name,
        host: e.host,
        model: e.servedModel,
        status: e.status,
        state: ctx.health.state(e.name),
        circuit: ctx.breaker(e).snapshot(now),
        // Fleet-wide when replicas share state; `replica` is this process's part.
        inFlight: usage[e.name]?.inFlight ?? ctx.limit(e).inFlight,
        queued: usage[e.name]?.queued ?? ctx.limit(e).queued,
        replica: ctx.limit(e),
        ...poolHealth(e, now),
      })),
    });
  }

  /**
   * A pool's servers, each with its own probe state and breaker: the endpoint stays up while any
   * serves, and says it is degraded while some are down.
   */
  function poolHealth(e: Endpoint, now: number): Record<string, unknown> {
    const pool = replicasOf(e);
    if (pool.length < 2) return {};
    const states = ctx.health.replicaStates(e.name);
    const replicas = pool.map((r) => {
      const circuit = ctx.breaker(loadKey(e.name, r.id)).snapshot(now);
      return {
        id: r.id,
        url: r.url,
        state: states.get(r.id) ?? 'unknown',
        circuit,
        inFlight: ctx.replicas.ledger.counts(loadKey(e.name, r.id)).inFlight,
      };
    });
    const down = replicas.filter((r) => r.state === 'down' || r.circuit.state === 'open');
    return { degraded: down.length > 0 && down.length < replicas.length, replicas };
  }

  function gatewayHealth(): string {
    const state = ctx.state.status();
    return JSON.stringify({
      // Degraded: cut off from the shared state; serving on local state (limits split per replica).
      status: state.shared ? 'ok' : 'degraded',
      fleet: fleet.name,
      state,
    });
  }

  async function serveApi(
    req: IncomingMessage,
    res: ServerResponse,
    operation: Operation,
    trace: RequestTrace,
  ): Promise<Outcome> {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const raw = await readBody(req, fleet.gateway.maxBodyBytes);
    const body = parseJsonBody(raw);
    const task = req.headers[TASK_HEADER];
    const headerTask = Array.isArray(task) ? task[0] : task;
    const priority = req.headers[PRIORITY_HEADER];
    trace.priority = priorityOf(
      fleet,
      Array.isArray(priority) ? priority[0] : priority,
      trace.apiKey,
      headerTask ?? (typeof body.model === 'string' ? body.model : undefined),
    );
    if (operation === 'embeddings')
      return handleEmbeddings(ctx, trace, res, controller.signal, body, headerTask);
    return handleGenerate(ctx, trace, res, controller.signal, body, operation, headerTask);
  }

  async function api(
    req: IncomingMessage,
    res: ServerResponse,
    operation: Operation,
    key: string,
  ): Promise<void> {
    const trace = new RequestTrace(
      typeof req.headers['x-request-id'] === 'string'
        ? req.headers['x-request-id'].slice(0, 128)
        : randomUUID(),
      operation,
      ctx.now(),
      performance.now(),
    );
    trace.rateClient = rateClientFor(fleet, key === '' ? undefined : key);
    trace.apiKey = key === '' ? undefined : key;
    trace.onRateHeaders = (headers) => {
      if (res.headersSent) return;
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    };
    let outcome: Outcome;
    let chargedTo: string | undefined;
    try {
      outcome = await serveApi(req, res, operation, trace);
    } catch (error) {
      const e =
        error instanceof HttpError
          ? error
          : new HttpError(500, `gateway error: ${error instanceof Error ? error.message : String(error)}`);
      if (e.status === 499 || res.destroyed) {
        outcome = { status: 499, outcome: 'cancelled', errorMessage: e.message };
      } else {
        sendError(res, e, {
          'x-request-id': trace.id,
          'x-llm-fleet-attempts': String(trace.attempts.length),
        });
        outcome = { status: e.status, outcome: classify(e, trace), errorMessage: e.message };
      }
      if (e.endpoint !== undefined) chargedTo = e.endpoint;
    }
    // A request that failed is charged to the endpoint of its decisive failure, never to a
    // fallback that only refused afterwards.
    const lastAttempt = trace.attempts[trace.attempts.length - 1];
    const endpointName = outcome.endpoint?.name ?? chargedTo ?? lastAttempt?.endpoint ?? 'none';
    const endpoint = fleet.endpoints.find((x) => x.name === endpointName);
    if (endpoint && ctx.health.degradedHosts().includes(endpoint.host)) trace.degraded = true;
    const { record, gapsMs } = trace.finish({
      outcome: outcome.outcome,
      status: outcome.status,
      endpoint: endpointName,
      host: endpoint?.host,
      model: outcome.model,
      endMono: performance.now(),
      errorMessage: outcome.errorMessage,
    });
    const final = record;
    ctx.metrics.observe(final, gapsMs);
    ctx.load.view.observeRecord(final);
    settleUsage(ctx, trace, final);
    try {
      ctx.sink?.write(final);
      ctx.onRecord?.(final);
    } catch {
      // A failing sink must never fail a request that has been answered.
    }
  }

  function classify(e: HttpError, trace: RequestTrace): RequestOutcome {
    if (e.status === 413 || (e.status === 429 && trace.attempts.length === 0)) return 'rejected';
    if (e.status === 504) return 'timeout';
    if (e.status >= 400 && e.status < 500 && e.status !== 429) return 'client_error';
    return 'upstream_error';
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const key = authorised(req, path);
    if (key === false) {
      req.resume();
      sendError(
        res,
        new HttpError(401, 'missing or invalid API key: send `Authorization: Bearer <key>`', {
          code: 'invalid_api_key',
        }),
        {
          'www-authenticate': 'Bearer',
        },
      );
      return;
    }
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      if (path === '/v1/chat/completions' || path === '/chat/completions') return api(req, res, 'chat', key);
      if (path === '/v1/completions' || path === '/completions') return api(req, res, 'completion', key);
      if (path === '/v1/embeddings' || path === '/embeddings') return api(req, res, 'embeddings', key);
    }
    if (method === 'GET' || method === 'HEAD') {
      if (path === '/v1/models' || path === '/models') return sendJson(res, 200, models());
      if (path === '/health') return sendJson(res, 200, gatewayHealth());
      if (path === '/fleet/health') return sendJson(res, 200, await fleetHealth());
      if (path === '/fleet/load')
        return sendJson(
          res,
          200,
          JSON.stringify({ ...(ctx.load.view.snapshot() as object), queue: ctx.load.admission.figures() }),
        );
      if (path === '/fleet/route') {
        try {
          const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
          return sendJson(res, 200, JSON.stringify(explainRoute(ctx, query)));
        } catch (error) {
          if (error instanceof HttpError) return sendError(res, error);
          throw error;
        }
      }
      if (path === '/metrics') {
        const text = await ctx.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
        res.end(text);
        return;
      }
    }
    if (deps.dashboard && (path === '/' || path.startsWith('/api/') || path.startsWith('/assets/'))) {
      if (await deps.dashboard.handle(req, res)) return;
    }
    req.resume();
    sendError(res, new HttpError(404, `no route ${method} ${path}`, { code: 'not_found' }));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, new HttpError(500, `gateway error: ${String(error)}`));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  /** Settles when close() is done (a second close() waits for the first). */
  let closed: Promise<void> | undefined;

  return {
    server,
    context: ctx,
    metrics: ctx.metrics.registry,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          ctx.load.view.start(deps.env ?? process.env);
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve(`http://${h}:${a.port}`);
        });
      });
    },
    close() {
      closed ??= (async () => {
        ctx.lifecycle.closing = true;
        ctx.load.view.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await ctx.pools.close();
        if (ctx.ownsState) await ctx.state.close();
      })();
      return closed;
    },
  };
}
