// Talking to /api/*: every call carries the API key when one was given (`?key=` once, then kept in
// sessionStorage for the tab), and events are read with fetch rather than EventSource because
// EventSource cannot send an Authorization header.

const KEY_STORAGE = 'llm-fleet-key';

export class AuthRequired extends Error {}

export function captureKeyFromUrl(): void {
  const url = new URL(location.href);
  const key = url.searchParams.get('key');
  if (key === null) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  url.searchParams.delete('key');
  // Keep the key out of history and out of anything copied from the address bar.
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

export function setKey(key: string): void {
  sessionStorage.setItem(KEY_STORAGE, key);
}

function headers(): HeadersInit {
  const key = sessionStorage.getItem(KEY_STORAGE);
  return key ? { authorization: `Bearer ${key}` } : {};
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: headers(), signal: signal ?? null });
  if (res.status === 401 || res.status === 403) throw new AuthRequired();
  const body = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body;
}

export interface ServerEvent {
  readonly event: string;
  readonly data: unknown;
}

/** Reads /api/events until aborted or the stream ends; resolves when it ends. */
export async function readEvents(onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch('/api/events', { headers: headers(), signal });
  if (res.status === 401 || res.status === 403) throw new AuthRequired();
  if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll('\r\n', '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) onEvent({ event, data: JSON.parse(data.join('\n')) as unknown });
    }
  }
}
