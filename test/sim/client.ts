// A plain loopback HTTP client for the simulator tests (undici through the loopback guard), SSE
// splitting, and the "shape" of an SSE transcript: keys in order, value types, JSON spacing style,
// comments and [DONE] — what must match the reference transcripts, whatever the text says.
import { performance } from 'node:perf_hooks';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { guardedConnector } from '../../src/upstream/guard.ts';
import type { SseEvent } from '../../src/upstream/sse.ts';
import { SseDecoder } from '../../src/upstream/sse.ts';

export const agent = new Agent({ connect: guardedConnector(), keepAliveTimeout: 1_000 });

/** A fetch for the openai client that goes through the guarded agent. */
export const guardedFetch = ((input: string | URL, init?: Record<string, unknown>) =>
  undiciFetch(input, { ...(init ?? {}), dispatcher: agent } as Parameters<
    typeof undiciFetch
  >[1])) as unknown as typeof fetch;

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** Set when the connection broke before the body ended (e.g. a cut stream). */
  readonly error?: string;
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return send(url, 'POST', typeof body === 'string' ? body : JSON.stringify(body), headers);
}

export async function get(url: string): Promise<RawResponse> {
  return send(url, 'GET', undefined, {});
}

async function send(
  url: string,
  method: 'GET' | 'POST',
  body: string | undefined,
  headers: Record<string, string>,
): Promise<RawResponse> {
  const res = await request(url, {
    method,
    body,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    dispatcher: agent,
  });
  let text = '';
  try {
    for await (const chunk of res.body) text += (chunk as Buffer).toString('utf8');
    return { status: res.statusCode, headers: res.headers, text };
  } catch (error) {
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/** Streams a request and stamps each SSE event with its arrival time (performance.now()). */
export async function timedStream(
  url: string,
  body: unknown,
): Promise<{ startMs: number; events: { atMs: number; raw: string }[]; error?: string }> {
  const startMs = performance.now();
  const res = await request(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    dispatcher: agent,
  });
  const events: { atMs: number; raw: string }[] = [];
  let buffer = '';
  try {
    for await (const chunk of res.body) {
      const atMs = performance.now();
      buffer += (chunk as Buffer).toString('utf8');
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        events.push({ atMs, raw: buffer.slice(0, i) });
        buffer = buffer.slice(i + 2);
      }
    }
  } catch (error) {
    return { startMs, events, error: error instanceof Error ? error.message : String(error) };
  }
  return { startMs, events };
}

export function splitEvents(text: string): string[] {
  return text
    .split('\n\n')
    .map((e) => e.replace(/^\n+/, ''))
    .filter((e) => e !== '');
}

/** JSON payloads of the `data:` events (not [DONE]). */
export function dataJson(text: string): Record<string, unknown>[] {
  return splitEvents(text)
    .filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
}

function valueShape(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${valueShape(v[0])}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(
        ([k, x]) =>
          `${k}:${k === 'finish_reason' && typeof x === 'string' ? 'reason' : k === 'object' ? JSON.stringify(x) : valueShape(x)}`,
      )
      .join(',')}}`;
  }
  return typeof v;
}

/** The shape of one SSE event as the project's decoder sees it. */
export function eventShape(event: SseEvent): string {
  if (event.type === 'comment') return 'comment';
  if (event.type === 'error-field') return 'field error';
  if (event.data === '[DONE]') return 'done';
  const spaced = /^\{"[^"]*": /.test(event.data);
  return `${spaced ? 'spaced' : 'compact'} ${valueShape(JSON.parse(event.data))}`;
}

/** Shapes of a transcript with runs of the same shape collapsed (token chunks repeat). */
export function transcriptShape(text: string): string[] {
  const decoder = new SseDecoder();
  const out: string[] = [];
  for (const e of [...decoder.push(text), ...decoder.end()]) {
    const s = eventShape(e);
    if (out.at(-1) !== s) out.push(s);
  }
  return out;
}
