// One HTTP attempt against one endpoint, with the named timeouts: connect (in the pool's
// connector), TTFT (request sent → first content or reasoning token; headers and role-only chunks
// do not stop it), idle (longest silence between events once tokens flow) and total. Every way an
// attempt can end badly becomes an UpstreamFailure; a stream that closes without `[DONE]` is a
// failure, never a quiet success.
import type { IncomingHttpHeaders } from 'undici/types/header.js';
import type { Endpoint, EndpointTimeouts } from '../fleet/index.ts';
import type { EndpointTarget } from './pools.ts';
import { SseDecoder } from './sse.ts';
import { parseStreamChunk, type StreamChunk } from './stream-chunk.ts';
import {
  classifyHttpError,
  classifyNetworkError,
  parseRetryAfterMs,
  type FailureCause,
  type UpstreamFailure,
} from './upstream-error.ts';

export class UpstreamFailureError extends Error {
  readonly failure: UpstreamFailure;
  constructor(failure: UpstreamFailure) {
    super(`${failure.endpoint}: ${failure.cause}: ${failure.message}`);
    this.failure = failure;
  }
}

export interface CallOptions {
  readonly endpoint: Endpoint;
  readonly target: EndpointTarget;
  /** Path under the endpoint's base, e.g. `/v1/chat/completions`. */
  readonly path: string;
  readonly body: string;
  /** Aborted when the client goes away. */
  readonly signal?: AbortSignal;
  readonly timeouts?: EndpointTimeouts;
  /** Monotonic clock in ms (performance.now by default). */
  readonly now?: () => number;
  readonly requestId?: string;
}

export interface StreamEvent {
  /** The raw `data:` payload, passed to the client as is. */
  readonly data: string;
  readonly chunk: StreamChunk;
  readonly atMs: number;
}

export interface StreamCall {
  readonly status: number;
  readonly headersAtMs: number;
  readonly startedAtMs: number;
  readonly events: AsyncGenerator<StreamEvent, void, undefined>;
  /** Stop the attempt (client gone, or the gateway gave up on it). */
  abort(cause: FailureCause, message: string): void;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A deadline set whose expiry aborts the attempt with a named cause. */
class Deadlines {
  private ttftTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private totalTimer: NodeJS.Timeout | undefined;
  private readonly fire: (cause: FailureCause, message: string) => void;
  private readonly timeouts: EndpointTimeouts | undefined;

  constructor(timeouts: EndpointTimeouts | undefined, fire: (cause: FailureCause, message: string) => void) {
    this.timeouts = timeouts;
    this.fire = fire;
    if (!timeouts) return;
    this.ttftTimer = setTimeout(
      () => fire('ttft_timeout', `no first token within ${timeouts.ttftTimeoutMs} ms (ttftTimeoutMs)`),
      timeouts.ttftTimeoutMs,
    );
    this.totalTimer = setTimeout(
      () => fire('total_timeout', `not finished within ${timeouts.totalTimeoutMs} ms (totalTimeoutMs)`),
      timeouts.totalTimeoutMs,
    );
  }

  /** For a non-streaming call the whole answer is the first token: only total applies. */
  noTtft(): void {
    clearTimeout(this.ttftTimer);
    this.ttftTimer = undefined;
  }

  firstToken(): void {
    clearTimeout(this.ttftTimer);
    this.ttftTimer = undefined;
    const t = this.timeouts;
    if (!t) return;
    this.idleTimer = setTimeout(
      () => this.fire('idle_timeout', `no token for ${t.idleTimeoutMs} ms mid-stream (idleTimeoutMs)`),
      t.idleTimeoutMs,
    );
  }

  /** An event arrived after the first token: the idle clock restarts. */
  activity(): void {
    this.idleTimer?.refresh();
  }

  clear(): void {
    clearTimeout(this.ttftTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.totalTimer);
  }
}

function requestHeaders(opts: CallOptions, accept: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept };
  if (opts.requestId) h['x-request-id'] = opts.requestId;
  return h;
}

async function readText(body: AsyncIterable<Buffer | Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString('utf8');
}

/**
 * What every attempt shares: one abort path (the first cause wins, whether a deadline, the client
 * going away or a stream fault), the named deadlines, and their cleanup.
 */
function startAttempt(opts: CallOptions) {
  const name = opts.endpoint.name;
  const controller = new AbortController();
  let failure: UpstreamFailure | undefined;
  const abort = (cause: FailureCause, message: string): void => {
    if (failure) return;
    failure = { cause, endpoint: name, message };
    controller.abort(new UpstreamFailureError(failure));
  };
  const onClientAbort = (): void => abort('cancelled', 'the client went away');
  if (opts.signal?.aborted) onClientAbort();
  opts.signal?.addEventListener('abort', onClientAbort, { once: true });
  const deadlines = new Deadlines(opts.timeouts, abort);
  return {
    name,
    signal: controller.signal,
    abort,
    deadlines,
    failure: (): UpstreamFailure | undefined => failure,
    cleanup: (): void => {
      deadlines.clear();
      opts.signal?.removeEventListener('abort', onClientAbort);
    },
  };
}

/** An HTTP error answer as a failure, with its Retry-After. */
function httpFailure(
  name: string,
  status: number,
  headers: IncomingHttpHeaders,
  text: string,
): UpstreamFailure {
  const retryAfterMs = parseRetryAfterMs(
    headerValue(headers, 'retry-after'),
    headerValue(headers, 'retry-after-ms'),
  );
  return classifyHttpError(name, status, text, retryAfterMs);
}

/**
 * Open a streaming attempt. Resolves once the endpoint answered 200 (headers), and rejects with
 * UpstreamFailureError for refusals, HTTP errors and timeouts before that.
 */
export async function openStream(opts: CallOptions): Promise<StreamCall> {
  const now = opts.now ?? (() => performance.now());
  const { name, signal, abort, deadlines, failure, cleanup } = startAttempt(opts);
  const startedAtMs = now();

  let response;
  try {
    response = await opts.target.pool.request({
      method: 'POST',
      path: opts.target.basePath + opts.path,
      headers: requestHeaders(opts, 'text/event-stream'),
      body: opts.body,
      signal,
    });
  } catch (error) {
    cleanup();
    throw new UpstreamFailureError(failure() ?? classifyNetworkError(name, error));
  }
  const headersAtMs = now();
  if (response.statusCode !== 200) {
    let text = '';
    try {
      text = await readText(response.body);
    } catch {
      // The body may be cut; the status says enough.
    }
    cleanup();
    throw new UpstreamFailureError(
      failure() ?? httpFailure(name, response.statusCode, response.headers, text),
    );
  }
  const contentType = headerValue(response.headers, 'content-type') ?? '';
  const body = response.body;

  async function* events(): AsyncGenerator<StreamEvent, void, undefined> {
    const decoder = new SseDecoder();
    let sawToken = false;
    let done = false;
    const fail = (cause: FailureCause, message: string): never => {
      abort(cause, message);
      throw new UpstreamFailureError(failure() as UpstreamFailure);
    };
    try {
      if (!contentType.includes('text/event-stream')) {
        // A 200 with a JSON body to a streaming request: an error in disguise (or a server that
        // ignores `stream`); either way not a stream the client can use.
        const text = await readText(body);
        fail(
          'stream_error',
          `expected an event stream, got ${contentType || 'no content-type'}: ${text.slice(0, 200)}`,
        );
      }
      for await (const bytes of body) {
        for (const ev of decoder.push(bytes as Buffer)) {
          if (ev.type === 'comment') continue;
          if (ev.type === 'error-field') fail('stream_error', ev.data);
          if (ev.type !== 'event') continue;
          const chunk = parseStreamChunk(ev.data);
          const atMs = now();
          if (chunk.kind === 'error') fail('stream_error', chunk.message);
          if (chunk.kind === 'invalid') fail('malformed_chunk', chunk.message);
          if (chunk.kind === 'done') {
            // Cleaned up before the last yield: a consumer may stop at [DONE] without resuming
            // the generator, and the timers would otherwise hold the request until totalTimeoutMs.
            done = true;
            cleanup();
            yield { data: ev.data, chunk, atMs };
            return;
          }
          if (chunk.kind === 'delta' && chunk.hasToken && !sawToken) {
            sawToken = true;
            deadlines.firstToken();
          } else if (sawToken) {
            deadlines.activity();
          }
          yield { data: ev.data, chunk, atMs };
        }
      }
      for (const ev of decoder.end()) {
        if (ev.type === 'event' && ev.data === '[DONE]') {
          done = true;
          cleanup();
          yield { data: ev.data, chunk: { kind: 'done' }, atMs: now() };
          return;
        }
      }
      if (!done)
        fail(
          'stream_cut',
          sawToken ? 'the stream closed mid-answer without [DONE]' : 'the stream closed before any token',
        );
    } catch (error) {
      if (error instanceof UpstreamFailureError) throw error;
      const known = failure();
      if (known) throw new UpstreamFailureError(known);
      const f = classifyNetworkError(name, error);
      throw new UpstreamFailureError({
        ...f,
        cause: 'stream_cut',
        message: `the stream broke: ${f.message}`,
      });
    } finally {
      cleanup();
      // After [DONE], read the response's end so the keep-alive connection goes back to the pool.
      if (done) body.dump().catch(() => undefined);
      else body.destroy();
    }
  }

  return { status: 200, headersAtMs, startedAtMs, events: events(), abort };
}

export interface JsonCallResult {
  readonly status: number;
  readonly bodyText: string;
  readonly startedAtMs: number;
  readonly headersAtMs: number;
  readonly endedAtMs: number;
  readonly headers: IncomingHttpHeaders;
}

/** A non-streaming attempt (whole answer or an HTTP error), under the total and connect timeouts. */
export async function callJson(opts: CallOptions): Promise<JsonCallResult> {
  const now = opts.now ?? (() => performance.now());
  const { name, signal, deadlines, failure, cleanup } = startAttempt(opts);
  deadlines.noTtft();
  const startedAtMs = now();
  try {
    const response = await opts.target.pool.request({
      method: 'POST',
      path: opts.target.basePath + opts.path,
      headers: requestHeaders(opts, 'application/json'),
      body: opts.body,
      signal,
    });
    const headersAtMs = now();
    const bodyText = await readText(response.body);
    if (response.statusCode >= 400)
      throw new UpstreamFailureError(httpFailure(name, response.statusCode, response.headers, bodyText));
    return {
      status: response.statusCode,
      bodyText,
      startedAtMs,
      headersAtMs,
      endedAtMs: now(),
      headers: response.headers,
    };
  } catch (error) {
    if (error instanceof UpstreamFailureError) throw error;
    throw new UpstreamFailureError(failure() ?? classifyNetworkError(name, error));
  } finally {
    cleanup();
  }
}
