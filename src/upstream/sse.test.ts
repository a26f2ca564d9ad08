import { describe, expect, it } from 'vitest';
import { SseDecoder } from './sse.ts';

const enc = new TextEncoder();

function decodeAll(chunks: (string | Uint8Array)[]) {
  const d = new SseDecoder();
  return [...chunks.flatMap((c) => d.push(c)), ...d.end()];
}

describe('SseDecoder', () => {
  it('decodes data events and [DONE]', () => {
    expect(decodeAll(['data: {"a":1}\n\ndata: [DONE]\n\n'])).toEqual([
      { type: 'event', event: 'message', data: '{"a":1}', id: undefined },
      { type: 'event', event: 'message', data: '[DONE]', id: undefined },
    ]);
  });

  it('gives the same events whatever the chunking, byte by byte and with CRLF split across chunks', () => {
    const text = 'data: {"x":"é"}\r\n\r\n: keepalive 10/100\r\ndata: a\r\ndata: b\r\n\r\n';
    const whole = decodeAll([text]);
    const bytes = enc.encode(text);
    const single = decodeAll(Array.from(bytes, (b) => new Uint8Array([b])));
    expect(single).toEqual(whole);
    expect(whole).toEqual([
      { type: 'event', event: 'message', data: '{"x":"é"}', id: undefined },
      { type: 'comment', text: 'keepalive 10/100' },
      { type: 'event', event: 'message', data: 'a\nb', id: undefined },
    ]);
  });

  it('reports the old llama.cpp error field and named events', () => {
    expect(decodeAll(['error: {"code":500}\n\nevent: ping\ndata: 1\n\n'])).toEqual([
      { type: 'error-field', data: '{"code":500}' },
      { type: 'event', event: 'ping', data: '1', id: undefined },
    ]);
  });

  it('dispatches a final event cut before its blank line at end()', () => {
    expect(decodeAll(['data: {"partial":true}'])).toEqual([
      { type: 'event', event: 'message', data: '{"partial":true}', id: undefined },
    ]);
  });

  it('reads data lines with and without the space, empty ones included, as the spec says', () => {
    expect(decodeAll(['data:x\ndata:\ndata:  y\n\n', 'data\n\n'])).toEqual([
      { type: 'event', event: 'message', data: 'x\n\n y', id: undefined },
      { type: 'event', event: 'message', data: '', id: undefined },
    ]);
  });

  it('handles huge events', () => {
    const big = 'x'.repeat(1_000_000);
    expect(decodeAll([`data: ${big.slice(0, 500_000)}`, `${big.slice(500_000)}\n\n`])).toEqual([
      { type: 'event', event: 'message', data: big, id: undefined },
    ]);
  });
});
