// Small HTTP helpers of the gateway: bounded body reading, OpenAI-shaped error answers, and header
// values that node accepts (routing reasons contain '→' and endpoint notes may hold any text).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { openAiErrorType } from '../upstream/upstream-error.ts';

/** The upstream answer behind a gateway error, passed on verbatim (`error.upstream`). */
export interface UpstreamErrorContext {
  readonly endpoint: string;
  readonly status?: number;
  readonly type?: string;
  readonly code?: string;
  readonly message: string;
}

export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;
  /** The endpoint this error is charged to (the decisive failure's), when an upstream caused it. */
  readonly endpoint: string | undefined;
  /** What the upstream answered, when an upstream answer decided this error. */
  readonly upstream: UpstreamErrorContext | undefined;

  constructor(
    status: number,
    message: string,
    options: {
      param?: string;
      code?: string;
      type?: string;
      headers?: Record<string, string>;
      endpoint?: string;
      upstream?: UpstreamErrorContext;
    } = {},
  ) {
    super(message);
    this.endpoint = options.endpoint;
    this.upstream = options.upstream;
    this.status = status;
    this.type = options.type ?? openAiErrorType(status);
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }
}

/** Header values must be latin-1 without control characters. */
export function headerSafe(value: string): string {
  return value
    .replace(/→/g, '->')
    .replace(/[—–]/g, '-')
    .replace(/≤/g, '<=')
    .replace(/×/g, 'x')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 512);
}

export function errorBody(status: number, message: string, e?: HttpError): string {
  return JSON.stringify({
    error: {
      message,
      type: e?.type ?? openAiErrorType(status),
      param: e?.param ?? null,
      code: e?.code ?? null,
      ...(e?.upstream ? { upstream: e.upstream } : {}),
    },
  });
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, e: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, e.status, errorBody(e.status, e.message, e), { ...headers, ...e.headers });
}

/** The request body, refused with 413 past `maxBytes` (checked while reading, not after). */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(
      new HttpError(413, `request body of ${declared} bytes exceeds the gateway limit of ${maxBytes} bytes`, {
        code: 'body_too_large',
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > maxBytes) {
        failed = true;
        reject(
          new HttpError(413, `request body exceeds the gateway limit of ${maxBytes} bytes`, {
            code: 'body_too_large',
          }),
        );
        return;
      }
      parts.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(parts));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
