// The thin I/O shell of calibrate and bench: timed requests on undici's raw dispatch API, so each
// response piece is stamped in the callback that delivers it (no stream or promise hop between the
// socket and the clock). The callback only stamps and queues; decoding waits for the end of the
// event-loop turn (see drainLater). Every connection goes through the loopback guard's connector.
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { Pool } from 'undici';
import type { StreamTiming } from '../measure/index.ts';
import { StreamTimer } from '../measure/index.ts';
import { guardedConnector } from '../upstream/guard.ts';

export interface HttpTarget {
  readonly origin: string;
  /** Path prefix of the base URL without a trailing `/v1` ('' or e.g. '/llm'). */
  readonly basePath: string;
  readonly dispatcher: Dispatcher;
  /** Sent with every request (the endpoint's key: upstreamAuthHeaders). */
  readonly headers: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export interface TargetOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly connectTimeoutMs?: number;
  /** Connections kept open; calibrate uses 1 (one request at a time), bench its concurrency. */
  readonly connections?: number;
  /** Headers for every request, e.g. the endpoint's `authorization`. */
  readonly headers?: Readonly<Record<string, string>>;
}

export function httpTarget(baseUrl: string, options: TargetOptions = {}): HttpTarget {
  const url = new URL(baseUrl);
  const pool = new Pool(url.origin, {
    connect: guardedConnector({ timeout: options.connectTimeoutMs ?? 10_000, noDelay: true }, options.env),
    connections: options.connections ?? null,
    // Our own total timeout governs; undici's would fire on events that are not ours to judge.
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 60_000,
    pipelining: 1,
  });
  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, '').replace(/\/v1$/, ''),
    dispatcher: pool,
    headers: options.headers ?? {},
    close: () => pool.close(),
  };
}

export interface TimedStream extends StreamTiming {
  /** Epoch ms when the request was written. */
  readonly startedAtMs: number;
}

const now = (): number => performance.now();

/**
 * Work deferred to the end of the event-loop turn. When many sockets are readable in one poll
 * phase, their read callbacks run one after another: decoding inside each callback would make every
 * later socket's stamp wait for the SSE and JSON work of the sockets before it, and resolving a
 * finished request there would run the caller's continuation (the next request's body, its
 * dispatch) before them too. So the callbacks only stamp and queue, and one `setImmediate` (it runs
 * right after the poll phase) decodes every piece queued in that turn, then computes the results of
 * the requests that ended in it, each from its own stamps. Memory stays bounded by one turn's
 * pieces; end, failure and timeout flush first (StreamTimer does), so no result misses a piece.
 */
const waiting: StreamTimer[] = [];
const endings: (() => void)[] = [];
let drainScheduled = false;

function drainLater(timer: StreamTimer): void {
  waiting.push(timer);
  scheduleDrain();
}

function endLater(end: () => void): void {
  endings.push(end);
  scheduleDrain();
}

function scheduleDrain(): void {
  if (drainScheduled) return;
  drainScheduled = true;
  setImmediate(drain);
}

function drain(): void {
  drainScheduled = false;
  // flush() is pure decoding (no I/O, no callbacks), so nothing is queued while this loop runs.
  for (const timer of waiting) timer.flush();
  waiting.length = 0;
  // The promises these resolve continue after this function returns; what they queue goes to the next drain.
  const ends = endings.splice(0);
  for (const end of ends) end();
}

export interface TimedStreamOptions {
  /**
   * Decode each piece, and resolve the result, inside the callback that delivers it, as before the
   * per-turn queue. Only the accuracy bench sets it, to measure in one run what the deferral buys;
   * the timings are the same.
   */
  readonly decodeInCallback?: boolean;
  /** Keep the generated text in the result (StreamTiming.text). */
  readonly keepText?: boolean;
}

/**
 * POSTs a streaming request and times it. The clock starts when undici reports the request written
 * to the socket (`onRequestSent`), not when it was queued, so pool waits never count as server time.
 */
export function timedStream(
  target: HttpTarget,
  path: string,
  body: unknown,
  timeoutMs: number,
  requestId?: string,
  options: TimedStreamOptions = {},
): Promise<TimedStream> {
  const inCallback = options.decodeInCallback === true;
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    let timer: StreamTimer | undefined;
    let epochStart = Date.now();
    let finished = false;
    /** The response ended or failed; its result waits for the drain, so the deadline no longer applies. */
    let ended = false;
    const start = (): StreamTimer => {
      if (!timer) {
        const t = now();
        epochStart = performance.timeOrigin + t;
        timer = new StreamTimer(t, { keepText: options.keepText });
      }
      return timer;
    };
    const finish = (timing: StreamTiming): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      resolve({ ...timing, startedAtMs: epochStart });
    };
    let controllerRef: Dispatcher.DispatchController | undefined;
    const deadline = setTimeout(() => {
      if (ended) return;
      const error = new Error(`no complete answer within ${timeoutMs} ms`);
      controllerRef?.abort(error);
      finish(start().fail(error.message, now()));
    }, timeoutMs);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        controllerRef = controller;
      },
      onRequestSent() {
        start();
      },
      onResponseStart(_controller, statusCode) {
        start().headers(statusCode, now());
      },
      onResponseData(_controller, chunk) {
        const at = now();
        if (finished) return;
        // undici hands over a view of the socket's own read buffer, which its request() API also
        // keeps in a stream after this callback returns; keeping the reference costs no copy.
        const t = start();
        if (inCallback) t.data(chunk, at);
        else if (t.queue(chunk, at)) drainLater(t);
      },
      onResponseEnd() {
        const at = now();
        if (inCallback) finish(start().end(at));
        else if (!finished && !ended) {
          ended = true;
          endLater(() => finish(start().end(at)));
        }
      },
      onResponseError(_controller, error) {
        const at = now();
        if (inCallback) finish(start().fail(transportMessage(error), at));
        else if (!finished && !ended) {
          ended = true;
          endLater(() => finish(start().fail(transportMessage(error), at)));
        }
      },
    };
    target.dispatcher.dispatch(
      {
        origin: target.origin,
        path: target.basePath + path,
        method: 'POST',
        body: payload,
        headers: {
          ...target.headers,
          'content-type': 'application/json',
          accept: 'text/event-stream',
          ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
        },
      },
      handler,
    );
  });
}

export interface TimedResponse {
  readonly ok: boolean;
  readonly status?: number;
  readonly text: string;
  /** From written request to the last byte of the body. */
  readonly latencyMs: number;
  readonly timeToHeadersMs?: number;
  readonly startedAtMs: number;
  readonly errorMessage?: string;
}

/** A plain request timed from written to the last byte (embeddings, health, server state). */
export function timedRequest(
  target: HttpTarget,
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  timeoutMs: number,
  requestId?: string,
): Promise<TimedResponse> {
  return new Promise((resolve) => {
    let startMs: number | undefined;
    let headersMs: number | undefined;
    let status: number | undefined;
    const pieces: Buffer[] = [];
    let finished = false;
    let controllerRef: Dispatcher.DispatchController | undefined;
    const begin = (): number => (startMs ??= now());
    const finish = (errorMessage?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      const s = begin();
      const ok = errorMessage === undefined && status !== undefined && status >= 200 && status < 300;
      resolve({
        ok,
        status,
        text: Buffer.concat(pieces).toString('utf8'),
        latencyMs: now() - s,
        timeToHeadersMs: headersMs,
        startedAtMs: performance.timeOrigin + s,
        errorMessage: errorMessage ?? (ok ? undefined : `HTTP ${status}`),
      });
    };
    const deadline = setTimeout(() => {
      controllerRef?.abort(new Error('timeout'));
      finish(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    target.dispatcher.dispatch(
      {
        origin: target.origin,
        path: target.basePath + path,
        method,
        body: body === undefined ? null : JSON.stringify(body),
        headers: {
          ...target.headers,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
        },
      },
      {
        onRequestStart(controller) {
          controllerRef = controller;
        },
        onRequestSent() {
          begin();
        },
        onResponseStart(_c, statusCode) {
          status = statusCode;
          headersMs = now() - begin();
        },
        onResponseData(_c, chunk) {
          pieces.push(chunk);
        },
        onResponseEnd() {
          finish();
        },
        onResponseError(_c, error) {
          finish(transportMessage(error));
        },
      },
    );
  });
}

/**
 * TCP connect times through the guarded connector itself (the same path every request takes), so
 * the figure is the network round trip to the host, without any HTTP server work in it.
 */
export async function tcpConnectTimesMs(
  baseUrl: string,
  tries: number,
  env?: NodeJS.ProcessEnv,
): Promise<number[]> {
  const url = new URL(baseUrl);
  const connect = guardedConnector({ timeout: 5_000 }, env);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const times: number[] = [];
  for (let i = 0; i < tries; i++) {
    const t0 = now();
    const ms = await new Promise<number | undefined>((resolve) => {
      connect(
        { hostname: url.hostname, host: url.host, protocol: url.protocol, port, servername: undefined },
        (err, socket) => {
          const elapsed = now() - t0;
          socket?.destroy();
          resolve(err ? undefined : elapsed);
        },
      );
    });
    if (ms === undefined) throw new Error(`cannot connect to ${url.host}`);
    times.push(ms);
  }
  return times;
}

function transportMessage(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
}
