// One health check of one endpoint, understanding each server's own health semantics
// (reference/wire-formats.md §10.2): vLLM answers 200 with an empty body and 503 when its engine
// is dead; llama.cpp answers 503 "Loading model" while loading and 200 {"status":"ok"}; mlx_lm
// answers 200 {"status": "ok"}; TEI answers 200 empty and 503 "unhealthy". vLLM, TEI and old mlx
// refuse connections while loading, which is reported as 'connect_refused'. A 4xx answer proves
// the server up.
import type { Dispatcher } from 'undici';
import { Agent, request } from 'undici';
import type { Endpoint } from '../fleet/index.ts';
import { healthUrl } from '../fleet/index.ts';
import { guardedConnector } from '../upstream/guard.ts';
import type { ProbeResult } from './types.ts';

export { healthUrl };

export interface CheckOptions {
  /** Whole check, connect included. */
  readonly timeoutMs: number;
  /** Pass a shared one when probing often; it must be built with `guardedConnector()`. */
  readonly dispatcher?: Dispatcher;
  readonly clock?: () => number;
}

/** A dispatcher for probes: loopback guard on, short connect timeout, no keep-alive surprises. */
export function createProbeDispatcher(timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Agent {
  return new Agent({
    connect: guardedConnector({ timeout: timeoutMs }, env),
    keepAliveTimeout: 1_000,
    connections: 4,
  });
}

/** Why a probe failed: its own time budget ran out, or the connection failed (see causeOfError). */
export function probeError(
  error: unknown,
  signal: AbortSignal,
  timeoutMs: number,
): { cause: string; detail: string } {
  return signal.aborted
    ? { cause: 'timeout', detail: `no answer within ${timeoutMs} ms` }
    : causeOfError(error);
}

/** Maps a failed connection or timeout to the stable cause names probes and the gateway share. */
export function causeOfError(error: unknown): { cause: string; detail: string } {
  const err = error as { code?: string; name?: string; message?: string; cause?: unknown };
  const code = err.code ?? (err.cause as { code?: string } | undefined)?.code;
  const message = err.message ?? String(error);
  if (code === 'ECONNREFUSED') return { cause: 'connect_refused', detail: 'connection refused' };
  if (code === 'loopback_only') return { cause: 'loopback_only', detail: message };
  if (
    err.name === 'AbortError' ||
    err.name === 'TimeoutError' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_ABORTED'
  )
    return { cause: 'timeout', detail: message.includes('timeout') ? message : 'timed out' };
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return { cause: 'connect_reset', detail: message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { cause: 'dns', detail: message };
  return { cause: 'connect_error', detail: code ? `${code}: ${message}` : message };
}

/** Judges a health answer by the endpoint's dialect. Pure, so every server's quirks are unit-tested. */
export function judgeHealth(
  endpoint: Pick<Endpoint, 'dialect'>,
  status: number,
  body: string,
): { ok: boolean; cause?: string; detail: string } {
  const text = body.trim();
  const snippet = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  if (status === 200) {
    if (endpoint.dialect === 'llamacpp' || endpoint.dialect === 'mlx') {
      // Both answer {"status":"ok"} (mlx with a space); anything else at 200 is odd but alive.
      return /"status"\s*:\s*"ok"/.test(text)
        ? { ok: true, detail: 'status ok' }
        : { ok: true, detail: text ? `200 ${snippet}` : '200, empty body' };
    }
    return { ok: true, detail: text ? `200 ${snippet}` : '200, empty body' };
  }
  if (status === 503) {
    if (/loading model/i.test(text)) return { ok: false, cause: 'loading', detail: 'loading model (503)' };
    if (endpoint.dialect === 'tei' && /unhealthy/i.test(text))
      return { ok: false, cause: 'unhealthy', detail: 'backend unhealthy (503)' };
    if (endpoint.dialect === 'vllm' && !text)
      return { ok: false, cause: 'engine_dead', detail: 'engine dead (503, empty body)' };
    return { ok: false, cause: 'http_503', detail: text ? `503 ${snippet}` : '503, empty body' };
  }
  // A 4xx is an answer: the server is up and refused this request (auth, an unknown path, a
  // parameter). Only 5xx, connection failures, timeouts and the dialect's own "unhealthy" are down.
  if (answeredUp(status)) return { ok: true, detail: `answered ${status} (up)${text ? `: ${snippet}` : ''}` };
  return {
    ok: false,
    cause: `http_${status}`,
    detail: text ? `${status} ${snippet}` : `${status}, empty body`,
  };
}

/** A 4xx answer proves the server up; 408 (the server timed the request out) does not. */
export function answeredUp(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408;
}

/** GET the endpoint's health path and judge it. Never throws: every failure is a ProbeResult. */
export async function checkHealth(endpoint: Endpoint, options: CheckOptions): Promise<ProbeResult> {
  const clock = options.clock ?? Date.now;
  const atMs = clock();
  const started = performance.now();
  const base = { endpoint: endpoint.name, kind: 'health' as const, atMs };
  if (!endpoint.url)
    return { ...base, ok: false, latencyMs: 0, cause: 'planned', detail: 'no URL (planned endpoint)' };
  const ownDispatcher = options.dispatcher ? undefined : createProbeDispatcher(options.timeoutMs);
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await request(healthUrl(endpoint), {
      method: 'GET',
      dispatcher: options.dispatcher ?? ownDispatcher,
      signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    const body = await response.body.text();
    const latencyMs = performance.now() - started;
    const verdict = judgeHealth(endpoint, response.statusCode, body);
    return {
      ...base,
      ok: verdict.ok,
      latencyMs,
      status: response.statusCode,
      ...(verdict.cause ? { cause: verdict.cause } : {}),
      detail: verdict.detail,
    };
  } catch (error) {
    const latencyMs = performance.now() - started;
    const { cause, detail } = probeError(error, signal, options.timeoutMs);
    return { ...base, ok: false, latencyMs, cause, detail };
  } finally {
    if (ownDispatcher) void ownDispatcher.close().catch(() => undefined);
  }
}
