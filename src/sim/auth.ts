// `--api-key` as each server checks it, before any route runs. Sources (read, not copied):
// - vLLM vllm/entrypoints/openai/api_server.py `AuthenticationMiddleware` (0.6 → 0.14 at least):
//   only paths under /v1 are guarded (/health, /metrics, /tokenize, /version, /ping are open);
//   `Authorization: <scheme> <token>` with the scheme compared case-insensitively to "bearer";
//   refusal 401 `{"error":"Unauthorized"}` (starlette JSONResponse, compact). OPTIONS passes.
// - llama.cpp tools/server (server.cpp, later server-http.cpp) `middleware_validate_api_key`:
//   every path but /health, /v1/health, /models, /v1/models, /api/tags and / is guarded (/metrics,
//   /props and /slots too); the key comes from `Authorization` (a "Bearer " prefix is stripped) or
//   `X-Api-Key`; refusal 401 `{"error":{"code":401,"message":"Invalid API Key","type":
//   "authentication_error"}}`. OPTIONS passes (pre-routing handler).
// - TEI router/src/http/server.rs: the auth layer wraps the inference routes only (/embed*,
//   /v1/embeddings, /embeddings, /info, /tokenize, /decode, /predict, /rerank, /similarity, /vertex,
//   POST /, /invocations); /health, GET /, /ping, /metrics and /docs are public. The header must
//   equal "Bearer <key>" byte for byte; refusal is a bare 401 with an empty body.
// - mlx_lm.server (mlx_lm/server.py) has no API key at all: the simulator refuses to pretend.
import type { IncomingMessage } from 'node:http';
import type { Dialect } from '../fleet/types.ts';
import type { WireError } from './errors-wire.ts';

const LLAMACPP_PUBLIC: ReadonlySet<string> = new Set([
  '/health',
  '/v1/health',
  '/models',
  '/v1/models',
  '/api/tags',
  '/',
]);
const TEI_GUARDED: ReadonlySet<string> = new Set([
  '/info',
  '/embed',
  '/embed_all',
  '/embed_sparse',
  '/predict',
  '/rerank',
  '/similarity',
  '/tokenize',
  '/decode',
  '/embeddings',
  '/v1/embeddings',
  '/vertex',
  '/invocations',
]);

/** Whether this request passes through the server's key check unasked. */
function isOpen(dialect: Dialect, method: string, path: string): boolean {
  if (method === 'OPTIONS') return dialect !== 'tei';
  switch (dialect) {
    case 'vllm':
      return !path.startsWith('/v1');
    case 'llamacpp':
      return LLAMACPP_PUBLIC.has(path);
    case 'tei':
      return !(TEI_GUARDED.has(path) || (path === '/' && method === 'POST'));
    default:
      return true;
  }
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

function presentsKey(dialect: Dialect, req: IncomingMessage, key: string): boolean {
  const authorization = header(req, 'authorization');
  switch (dialect) {
    case 'vllm': {
      const space = authorization.indexOf(' ');
      const scheme = space < 0 ? authorization : authorization.slice(0, space);
      const token = space < 0 ? '' : authorization.slice(space + 1);
      return scheme.toLowerCase() === 'bearer' && token === key;
    }
    case 'llamacpp': {
      const raw = authorization !== '' ? authorization : header(req, 'x-api-key');
      return (raw.startsWith('Bearer ') ? raw.slice('Bearer '.length) : raw) === key;
    }
    case 'tei':
      return authorization === `Bearer ${key}`;
    default:
      return true;
  }
}

/** The server's refusal of a request without the right key, or undefined when it passes. */
export function authRefusal(
  dialect: Dialect,
  key: string | undefined,
  req: IncomingMessage,
  path: string,
): WireError | undefined {
  if (key === undefined || isOpen(dialect, req.method ?? 'GET', path) || presentsKey(dialect, req, key))
    return undefined;
  switch (dialect) {
    case 'vllm':
      return { status: 401, contentType: 'application/json', body: '{"error":"Unauthorized"}' };
    case 'llamacpp':
      return {
        status: 401,
        contentType: 'application/json; charset=utf-8',
        body: '{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}',
      };
    default:
      return { status: 401, contentType: 'text/plain', body: '' };
  }
}
