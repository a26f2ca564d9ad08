// One HTTP attempt against one endpoint, with the named timeouts: connect (in the pool's
// connector), TTFT (request sent → first content or reasoning token; headers and role-only chunks
// do not stop it), idle (longest silence between events once tokens flow) and total. Every way an
// attempt can end badly becomes an UpstreamFailure; a stream that closes without a finish reason is
// a failure, never a quiet success. One that carried its finish reason and then closed without
// `[DONE]` (some servers and proxies omit the terminator) is complete: the call ends with a `[DONE]`
// of its own (`missingDone`).
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'undici/types/header.js';
import type { Endpoint, EndpointTimeouts } from '../fleet/index.ts';
import { upstreamAuthHeaders } from './auth.ts';
import type { EndpointTarget } from './pools.ts';
import { SseDecoder, type SseEvent } from './sse.ts';
import { parseStreamChunk, type StreamChunk } from './stream-chunk.ts';
import {
  classifyHttpError,
  classifyNetworkError,
  classifyStreamError,
  parseRetryAfterMs,
  silentClose,
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

/**
 * Where a stream's events go, called synchronously from the socket read that completed them, so
 * relaying a token costs no stream or promise hop. Return false to pause the upstream socket until
 * `resume()` (the client's socket is full).
 */
export type StreamSink = (event: StreamEvent) => boolean | void;

export interface StreamCall {
  readonly status: number;
  readonly headersAtMs: number;
  readonly startedAtMs: number;
  /**
   * Send events to `sink` from now on, first those that arrived while no sink was attached (in
   * order, synchronously). `undefined` detaches: later events wait in a queue for the next sink.
   */
  attach(sink: StreamSink | undefined): void;
  /** Continue reading after a sink returned false. */
  resume(): void;
  /** Resolves once [DONE] was delivered; rejects with UpstreamFailureError when the stream fails. */
  readonly ended: Promise<void>;
  /** True when the upstream closed after its finish reason without `[DONE]` (one was supplied). */
  readonly missingDone: boolean;
  /** Stop the attempt (client gone, or the gateway gave up on it). */
  abort(cause: FailureCause, message: string): void;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A deadline set whose expiry aborts the attempt with a named cause: TTFT and total from the start,
 * idle from the first token. One timer serves them all, armed for whichever falls due first and
 * re-armed when it fires early for a deadline that moved (a token came, the upstream was held): a
 * request costs one timer, and an event only a timestamp.
 */
class Deadlines {
  private timer: NodeJS.Timeout | undefined;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private readonly startMs = performance.now();
  private ttftDueMs: number | undefined;
  private readonly totalDueMs: number;
  /** Idle applies once the first token arrived; the last event's time (the caller's clock read). */
  private idle = false;
  private lastActivityMs = 0;
  /** The gateway paused the upstream (the client reads slowly): silence is not the endpoint's. */
  private held = false;
  private readonly fire: (cause: FailureCause, message: string) => void;
  private readonly timeouts: EndpointTimeouts | undefined;

  constructor(timeouts: EndpointTimeouts | undefined, fire: (cause: FailureCause, message: string) => void) {
    this.timeouts = timeouts;
    this.fire = fire;
    this.totalDueMs = timeouts ? this.startMs + timeouts.totalTimeoutMs : Number.POSITIVE_INFINITY;
    if (!timeouts) return;
    this.ttftDueMs = this.startMs + timeouts.ttftTimeoutMs;
    this.arm(Math.min(timeouts.ttftTimeoutMs, timeouts.totalTimeoutMs));
  }

  /** For a non-streaming call the whole answer is the first token: only total applies. */
  noTtft(): void {
    this.ttftDueMs = undefined;
  }

  /** `atMs`: the event's arrival (performance.now), read once per event by the caller. */
  firstToken(atMs: number): void {
    this.ttftDueMs = undefined;
    if (!this.timeouts) return;
    this.idle = true;
    this.lastActivityMs = atMs;
    // Armed for the TTFT deadline: brought forward when the idle one falls due sooner.
    const idleDueMs = atMs + this.timeouts.idleTimeoutMs;
    if (idleDueMs < this.timerDueMs) {
      clearTimeout(this.timer);
      this.arm(idleDueMs - performance.now());
    }
  }

  /** An event arrived after the first token: the idle clock restarts (a timestamp, no timer call). */
  activity(atMs: number): void {
    this.lastActivityMs = atMs;
  }

  /** Paused by backpressure (true) or reading again (false, the idle clock restarts). */
  hold(on: boolean): void {
    this.held = on;
    if (!on) this.lastActivityMs = performance.now();
  }

  private arm(delayMs: number): void {
    const ms = Math.max(1, delayMs);
    this.timerDueMs = performance.now() + ms;
    this.timer = setTimeout(() => this.check(), ms);
  }

  /** The timer fired: fire what fell due (the earliest first), or re-arm for what is next. */
  private check(): void {
    const t = this.timeouts as EndpointTimeouts;
    const nowMs = performance.now();
    const ttftDue = this.ttftDueMs;
    if (ttftDue !== undefined && ttftDue <= nowMs && ttftDue <= this.totalDueMs) {
      this.fire('ttft_timeout', `no first token within ${t.ttftTimeoutMs} ms (ttftTimeoutMs)`);
      return;
    }
    if (this.totalDueMs <= nowMs) {
      this.fire('total_timeout', `not finished within ${t.totalTimeoutMs} ms (totalTimeoutMs)`);
      return;
    }
    // Held by backpressure, the idle clock starts again from now.
    if (this.held) this.lastActivityMs = nowMs;
    const idleDue = this.idle ? this.lastActivityMs + t.idleTimeoutMs : Number.POSITIVE_INFINITY;
    if (idleDue <= nowMs) {
      this.fire('idle_timeout', `no token for ${t.idleTimeoutMs} ms mid-stream (idleTimeoutMs)`);
      return;
    }
    this.arm(Math.min(ttftDue ?? Number.POSITIVE_INFINITY, this.totalDueMs, idleDue) - nowMs);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

function requestHeaders(opts: CallOptions, accept: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept,
    ...upstreamAuthHeaders(opts.endpoint),
  };
  if (opts.requestId) h['x-request-id'] = opts.requestId;
  return h;
}

/** The whole body, without copying each chunk first (undici hands out Buffers). */
async function readBytes(body: AsyncIterable<Buffer | Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body)
    parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

/**
 * What every attempt shares: one abort path (the first cause wins, whether a deadline, the client
 * going away or a stream fault, and goes to `onAbort` once), the named deadlines, and their
 * cleanup. The caller checks `opts.signal.aborted` itself once it is ready to be aborted.
 */
function startAttempt(opts: CallOptions, onAbort: (failure: UpstreamFailure) => void) {
  const name = opts.endpoint.name;
  let failure: UpstreamFailure | undefined;
  const abort = (cause: FailureCause, message: string): void => {
    if (failure) return;
    failure = { cause, endpoint: name, message };
    onAbort(failure);
  };
  const onClientAbort = (): void => abort('cancelled', 'the client went away');
  opts.signal?.addEventListener('abort', onClientAbort, { once: true });
  const deadlines = new Deadlines(opts.timeouts, abort);
  return {
    name,
    abort,
    clientGone: (): boolean => {
      if (opts.signal?.aborted) onClientAbort();
      return failure !== undefined;
    },
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
 * Open a streaming attempt on undici's raw dispatch API. Resolves once the endpoint answered 200
 * with an event stream (headers); rejects with UpstreamFailureError for refusals, HTTP errors, a
 * 200 that is not an event stream, and timeouts before that. Events are decoded in the data
 * callback and handed to the attached sink at once.
 */
export function openStream(opts: CallOptions): Promise<StreamCall> {
  const now = opts.now ?? (() => performance.now());
  // A deadline, the client going away or a stream fault ends the attempt at once.
  const { name, abort, clientGone, deadlines, failure, cleanup } = startAttempt(opts, (f) => settle(f));
  const startedAtMs = now();
  const decoder = new SseDecoder();
  const queue: StreamEvent[] = [];
  let sink: StreamSink | undefined;
  let controller: Dispatcher.DispatchController | undefined;
  let headersAtMs = 0;
  let status = 0;
  let headers: IncomingHttpHeaders = {};
  let streaming = false;
  let sawToken = false;
  let sawFinish = false;
  let missingDone = false;
  let done = false;
  let settled = false;
  // An error body (or a 200 that is not a stream), kept bounded for the failure's message and
  // decoded once at its end, so a character split across chunks stays whole.
  const errorBody: Buffer[] = [];
  let errorBytes = 0;

  let resolveOpen!: (call: StreamCall) => void;
  let rejectOpen!: (error: UpstreamFailureError) => void;
  const opened = new Promise<StreamCall>((resolve, reject) => {
    resolveOpen = resolve;
    rejectOpen = reject;
  });
  let resolveEnded!: () => void;
  let rejectEnded!: (error: UpstreamFailureError) => void;
  const ended = new Promise<void>((resolve, reject) => {
    resolveEnded = resolve;
    rejectEnded = reject;
  });
  // Nobody may be listening when a detached stream fails; the consumer sees it when it awaits.
  ended.catch(() => undefined);

  /** The attempt is over: the first outcome wins; the request is aborted unless it completed. */
  const settle = (outcome: UpstreamFailure | undefined): void => {
    if (settled) return;
    settled = true;
    cleanup();
    if (outcome === undefined) {
      resolveEnded();
      return;
    }
    const error = new UpstreamFailureError(outcome);
    if (!controller?.aborted) controller?.abort(error);
    if (streaming) rejectEnded(error);
    else rejectOpen(error);
  };
  // A full client socket pauses the upstream; the idle deadline does not count that silence.
  let paused = false;
  const pause = (): void => {
    paused = true;
    deadlines.hold(true);
    controller?.pause();
  };

  const deliver = (ev: StreamEvent): void => {
    if (sink === undefined || queue.length > 0) {
      queue.push(ev);
      return;
    }
    if (sink(ev) === false) pause();
  };

  // An error event before any token may be the server's context-length refusal (llama.cpp
  // before PR #16486 answered 200 and sent it in the stream): reroute it like the HTTP 400.
  const streamError = (payload: string, message: string): void => {
    const f = classifyStreamError(name, payload);
    abort(f.cause === 'context_length' && !sawToken ? 'context_length' : 'stream_error', message);
  };

  const onEvent = (ev: SseEvent): void => {
    if (settled || ev.type === 'comment') return;
    if (ev.type === 'error-field') return streamError(ev.data, ev.data);
    const chunk = parseStreamChunk(ev.data);
    const atMs = now();
    // The idle deadline runs on performance.now; an injected clock (tests) is not that clock.
    const idleAtMs = opts.now === undefined ? atMs : performance.now();
    if (chunk.kind === 'error') return streamError(ev.data, chunk.message);
    if (chunk.kind === 'invalid') return abort('malformed_chunk', chunk.message);
    if (chunk.kind === 'done') {
      done = true;
      deliver({ data: ev.data, chunk, atMs });
      settle(undefined);
      return;
    }
    if (chunk.finishReason !== undefined) sawFinish = true;
    if (chunk.hasToken && !sawToken) {
      sawToken = true;
      deadlines.firstToken(idleAtMs);
    } else if (sawToken) {
      deadlines.activity(idleAtMs);
    }
    deliver({ data: ev.data, chunk, atMs });
  };

  /** The answer ended with its finish reason but the terminator never came: supply it. */
  const completeWithoutDone = (): void => {
    missingDone = true;
    onEvent({ type: 'event', event: 'message', data: '[DONE]' });
  };

  const call: StreamCall = {
    status: 200,
    get headersAtMs() {
      return headersAtMs;
    },
    startedAtMs,
    ended,
    get missingDone() {
      return missingDone;
    },
    abort,
    attach(next) {
      sink = next;
      while (sink !== undefined && queue.length > 0) {
        if (sink(queue.shift() as StreamEvent) === false) pause();
      }
    },
    resume() {
      if (!paused) return;
      paused = false;
      deadlines.hold(false);
      controller?.resume();
    },
  };

  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (settled) c.abort(new Error('attempt already over'));
    },
    onResponseStart(_c, statusCode, responseHeaders) {
      headersAtMs = now();
      status = statusCode;
      headers = responseHeaders;
      const contentType = headerValue(responseHeaders, 'content-type') ?? '';
      if (status === 200 && contentType.includes('text/event-stream')) {
        streaming = true;
        resolveOpen(call);
      }
    },
    onResponseData(_c, bytes) {
      if (!streaming) {
        if (errorBytes < 65_536) {
          errorBody.push(bytes);
          errorBytes += bytes.length;
        }
        return;
      }
      for (const ev of decoder.push(bytes)) onEvent(ev);
    },
    onResponseEnd() {
      if (settled) return;
      if (!streaming) {
        const errorText = Buffer.concat(errorBody).toString('utf8');
        if (status === 200) {
          // A 200 with a JSON body to a streaming request: an error in disguise (or a server that
          // ignores `stream`); either way not a stream the client can use.
          const contentType = headerValue(headers, 'content-type');
          return settle({
            cause: 'stream_error',
            endpoint: name,
            message: `expected an event stream, got ${contentType ?? 'no content-type'}: ${errorText.slice(0, 200)}`,
          });
        }
        return settle(httpFailure(name, status, headers, errorText));
      }
      for (const ev of decoder.end()) {
        if (ev.type === 'event' && ev.data === '[DONE]') onEvent(ev);
      }
      if (!done && sawFinish) return completeWithoutDone();
      if (!done)
        abort(
          'stream_cut',
          sawToken ? 'the stream closed mid-answer without [DONE]' : 'the stream closed before any token',
        );
    },
    onResponseError(_c, error) {
      if (settled) return;
      const known = failure();
      if (known) return settle(known);
      // The answer was finished: a connection dropped after it loses nothing.
      if (streaming && sawFinish) return completeWithoutDone();
      const f = classifyNetworkError(name, error);
      // Before the headers the endpoint never answered; after them a stream broke.
      if (streaming) return settle({ ...f, cause: 'stream_cut', message: `the stream broke: ${f.message}` });
      settle(silentClose(name, opts.endpoint.dialect, error) ?? f);
    },
  };

  if (!clientGone())
    opts.target.pool.dispatch(
      {
        origin: opts.target.origin,
        method: 'POST',
        path: opts.target.basePath + opts.path,
        headers: requestHeaders(opts, 'text/event-stream'),
        body: opts.body,
      },
      handler,
    );
  return opened;
}

export interface JsonCallResult {
  readonly status: number;
  readonly bodyText: string;
  /** The same answer as received (for relaying it unchanged without encoding it again). */
  readonly bodyBytes: Buffer;
  readonly startedAtMs: number;
  readonly headersAtMs: number;
  readonly endedAtMs: number;
  readonly headers: IncomingHttpHeaders;
}

/** A non-streaming attempt (whole answer or an HTTP error), under the total and connect timeouts. */
export async function callJson(opts: CallOptions): Promise<JsonCallResult> {
  const now = opts.now ?? (() => performance.now());
  const controller = new AbortController();
  const { name, clientGone, deadlines, failure, cleanup } = startAttempt(opts, (f) =>
    controller.abort(new UpstreamFailureError(f)),
  );
  const signal = controller.signal;
  clientGone();
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
    const bodyBytes = await readBytes(response.body);
    const bodyText = bodyBytes.toString('utf8');
    if (response.statusCode >= 400)
      throw new UpstreamFailureError(httpFailure(name, response.statusCode, response.headers, bodyText));
    return {
      status: response.statusCode,
      bodyText,
      bodyBytes,
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
