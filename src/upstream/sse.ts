// A small, byte-oriented Server-Sent Events decoder (WHATWG framing): split chunks, CR, LF and
// CRLF line ends, comments (`: keepalive`), multi-line data, and the non-standard `error:` field
// old llama.cpp writes. It never parses JSON: callers decide what an event means.

export type SseEvent =
  | { readonly type: 'event'; readonly event: string; readonly data: string; readonly id?: string }
  | { readonly type: 'comment'; readonly text: string }
  /** A line `error: {...}` (llama.cpp before PR #16486). */
  | { readonly type: 'error-field'; readonly data: string };

export class SseDecoder {
  private buffer = '';
  private readonly textDecoder = new TextDecoder('utf-8');
  /** The event's data so far (its `data:` lines joined by LF); undefined before its first. */
  private data: string | undefined;
  private eventName = '';
  private lastId: string | undefined;
  private sawCr = false;

  /** Feed raw bytes (or text); returns the events completed by this chunk. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.textDecoder.decode(chunk, { stream: true });
    // A CR at the end of the previous chunk followed by LF here is one line end.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = text.endsWith('\r');
    this.buffer += text;
    const events: SseEvent[] = [];
    const buffer = this.buffer;
    // indexOf runs natively; a CR-free buffer (what every server in the fleet sends) needs no other scan.
    const hasCr = buffer.includes('\r');
    let start = 0;
    for (;;) {
      const i = hasCr ? lineEnd(buffer, start) : buffer.indexOf('\n', start);
      if (i < 0) break;
      if (i === start) {
        this.dispatch(events); // the blank line that ends an event
      } else if (buffer.startsWith('data:', start)) {
        // The line every token comes in: its value sliced once, with no field/value split.
        const from = buffer.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
        this.addData(from <= i ? buffer.slice(from, i) : '');
      } else {
        this.line(buffer.slice(start, i), events);
      }
      start = buffer.charCodeAt(i) === 13 && buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
    return events;
  }

  /** End of stream: a final event without its blank line is still dispatched (as browsers do not, but servers that cut off do). */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    const tail = this.textDecoder.decode();
    if (tail) events.push(...this.push(tail));
    if (this.buffer.length > 0) this.line(this.buffer, events);
    this.buffer = '';
    this.dispatch(events);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      events.push({ type: 'comment', text: line.slice(1).trimStart() });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.addData(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        this.lastId = value;
        break;
      case 'error':
        events.push({ type: 'error-field', data: value });
        break;
      default:
        break; // `retry` and unknown fields are ignored.
    }
  }

  private addData(value: string): void {
    this.data = this.data === undefined ? value : `${this.data}\n${value}`;
  }

  private dispatch(events: SseEvent[]): void {
    if (this.data === undefined) {
      this.eventName = '';
      return;
    }
    events.push({
      type: 'event',
      event: this.eventName || 'message',
      data: this.data,
      id: this.lastId,
    });
    this.data = undefined;
    this.eventName = '';
  }
}

/** The first CR or LF at or after `from`, or -1. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr < 0) return lf;
  if (lf < 0) return cr;
  return Math.min(cr, lf);
}
