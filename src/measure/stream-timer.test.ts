import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { StreamTimer } from './stream-timer.ts';

function fixture(name: string): string {
  return readFileSync(new URL(`../../test/fixtures/sse/${name}`, import.meta.url), 'utf8');
}

/** Replays a transcript: headers at 5 ms, then event k (1-based) arrives at 10·k ms; the body ends 10 ms later. */
function replay(name: string, status = 200) {
  const events = fixture(name)
    .split('\n\n')
    .filter((e) => e.trim() !== '');
  const timer = new StreamTimer(0);
  timer.headers(status, 5);
  events.forEach((e, i) => timer.data(`${e}\n\n`, 10 * (i + 1)));
  return timer.end(10 * (events.length + 1));
}

describe('StreamTimer: TTFT under each server dialect', () => {
  it('vLLM: the role-only chunk does not stop TTFT; the first reasoning token does', () => {
    const t = replay('vllm-0.11-reasoning-usage.sse');
    expect(t.ok).toBe(true);
    expect(t.timeToHeadersMs).toBe(5);
    expect(t.timeToRoleMs).toBe(10);
    expect(t.ttftMs).toBe(20);
    expect(t.timeToFirstAnswerMs).toBe(40);
    expect(t.tokenTimesMs).toEqual([20, 30, 40, 50]);
    expect(t.completionTokens).toBe(43);
    expect(t.promptTokens).toBe(14);
    expect(t.tokenSource).toBe('usage');
    expect(t.decodeTokensPerSecond).toBe(1400); // (43 − 1) / 30 ms
    expect(t.burstTokensPerSecond).toBe(1400);
    expect(t.itlMs.p50).toBe(10);
    expect(t.reasoningEvents).toBe(2);
    expect(t.firstTokenKind).toBe('reasoning');
    expect(t.finishReason).toBe('stop');
    expect(t.totalMs).toBe(90);
  });

  it('mlx: keep-alive comments do not stop TTFT; role on every delta; reasoning key `reasoning`', () => {
    const t = replay('mlx-keepalive-role-every-delta-usage.sse');
    expect(t.ok).toBe(true);
    expect(t.keepAliveComments).toBe(2);
    expect(t.timeToRoleMs).toBe(30);
    expect(t.ttftMs).toBe(30);
    expect(t.timeToFirstAnswerMs).toBe(40);
    expect(t.tokenTimesMs).toEqual([30, 40, 50]); // the final role-only delta is no token
    expect(t.firstTokenKind).toBe('reasoning');
    expect(t.completionTokens).toBe(4);
    expect(t.decodeTokensPerSecond).toBe(150);
    expect(t.systemFingerprint).toBe('0.31.3-0.29.1-macOS-applegpu_g14s');
  });

  it('llama.cpp: role with null content, `:` ping, separate empty finish chunk', () => {
    const t = replay('llamacpp-separate-finish-usage.sse');
    expect(t.ok).toBe(true);
    expect(t.timeToRoleMs).toBe(10);
    expect(t.ttftMs).toBe(20);
    expect(t.keepAliveComments).toBe(1);
    expect(t.tokenTimesMs).toEqual([20, 40]);
    expect(t.completionTokens).toBe(3);
    expect(t.decodeTokensPerSecond).toBe(100); // (3 − 1) / 20 ms
    expect(t.systemFingerprint).toBe('b6700-1a2b3c4');
  });

  it('inline <think> without an opening tag counts as a token; the answer starts after </think>', () => {
    const t = replay('vllm-inline-think-no-usage.sse');
    expect(t.ok).toBe(true);
    expect(t.firstTokenKind).toBe('content');
    expect(t.ttftMs).toBe(20);
    expect(t.timeToFirstAnswerMs).toBe(40);
  });

  it('a server without usage: tokens are counted events, flagged as such', () => {
    const t = replay('vllm-inline-think-no-usage.sse');
    expect(t.tokenSource).toBe('chunks');
    expect(t.completionTokens).toBe(3);
    expect(t.decodeTokensPerSecond).toBe(100);
  });

  it("old llama.cpp's `error:` field is a stream error even though [DONE] follows", () => {
    const t = replay('llamacpp-old-error-field.sse');
    expect(t.ok).toBe(false);
    expect(t.failure).toBe('stream_error');
    expect(t.errorMessage).toBe('the request exceeds the available context size');
    expect(t.ttftMs).toBeUndefined();
  });

  it('a stream that ends without [DONE] is cut, with the tokens seen so far kept', () => {
    const t = replay('mlx-midstream-close.sse');
    expect(t.ok).toBe(false);
    expect(t.failure).toBe('stream_cut');
    expect(t.ttftMs).toBe(10);
  });

  it('a transport error after the headers is a cut stream; before them, a transport failure', () => {
    const cut = new StreamTimer(0);
    cut.headers(200, 1);
    cut.data('data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 2);
    expect(cut.fail('UND_ERR_SOCKET: other side closed', 3)).toMatchObject({
      failure: 'stream_cut',
      ttftMs: 2,
    });
    expect(new StreamTimer(0).fail('ECONNREFUSED', 1)).toMatchObject({ failure: 'transport', ok: false });
  });

  it('a non-2xx answer is an HTTP error carrying the server message', () => {
    const timer = new StreamTimer(100);
    timer.headers(503, 101);
    timer.data('{"error":{"message":"Loading model","type":"unavailable_error","code":503}}', 102);
    const t = timer.end(103);
    expect(t).toMatchObject({
      ok: false,
      failure: 'http_error',
      status: 503,
      errorMessage: 'Loading model',
      totalMs: 3,
    });
  });

  it('stamps an event with the arrival of the bytes that complete it, however the stream is split', () => {
    const text = fixture('vllm-0.11-reasoning-usage.sse');
    const endOfFirstToken = text.indexOf('\n\n', text.indexOf('Okay')) + 2;
    const timer = new StreamTimer(0);
    timer.headers(200, 0);
    for (let i = 0; i < text.length; i += 7) timer.data(text.slice(i, i + 7), i);
    const t = timer.end(text.length);
    // The piece that delivered the blank line ending the first reasoning event starts at a multiple of 7.
    expect(t.ttftMs).toBe(Math.floor((endOfFirstToken - 1) / 7) * 7);
    expect(t.ok).toBe(true);
  });
});

/** A small deterministic generator, so a failing split can be replayed. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Cuts bytes into pieces of 1..maxLength bytes (so events, lines and UTF-8 characters split anywhere). */
function pieces(bytes: Uint8Array, random: () => number, maxLength: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + Math.floor(random() * maxLength);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

type Ending = { kind: 'end' } | { kind: 'fail'; message: string };

/** The synchronous path: every piece decoded in the call that delivers it. */
function synchronous(parts: readonly Uint8Array[], times: readonly number[], ending: Ending, status = 200) {
  const timer = new StreamTimer(0);
  timer.headers(status, 0.5);
  parts.forEach((p, i) => timer.data(p, times[i] as number));
  const endAt = (times[times.length - 1] ?? 0) + 1;
  return ending.kind === 'end' ? timer.end(endAt) : timer.fail(ending.message, endAt);
}

/** The deferred path: pieces queued, flushed at random points, the rest left for end/fail to flush. */
function deferred(
  parts: readonly Uint8Array[],
  times: readonly number[],
  ending: Ending,
  random: () => number,
  status = 200,
) {
  const timer = new StreamTimer(0);
  timer.headers(status, 0.5);
  parts.forEach((p, i) => {
    timer.queue(p, times[i] as number);
    if (random() < 0.3) timer.flush();
  });
  const endAt = (times[times.length - 1] ?? 0) + 1;
  return ending.kind === 'end' ? timer.end(endAt) : timer.fail(ending.message, endAt);
}

describe('StreamTimer: queued pieces give the timings of synchronous decoding', () => {
  const fixtures = [
    'vllm-0.11-reasoning-usage.sse',
    'mlx-keepalive-role-every-delta-usage.sse',
    'llamacpp-separate-finish-usage.sse',
    'vllm-inline-think-no-usage.sse',
    'llamacpp-old-error-field.sse',
    'mlx-midstream-close.sse',
  ];

  it.each(fixtures)('%s, split at random points, flushed at random points', (name) => {
    // A multi-byte character in the stream, so some splits fall inside one.
    const bytes = Buffer.from(fixture(name).replace('Hello', 'Héllo ✓'), 'utf8');
    for (let seed = 1; seed <= 40; seed++) {
      const random = lcg(seed);
      const parts = pieces(bytes, random, seed % 2 === 0 ? 12 : 300);
      // Distinct, increasing, non-integer times: a piece decoded at any other piece's time shows.
      let at = 1;
      const times = parts.map(() => (at += 0.25 + random() * 3));
      const expected = synchronous(parts, times, { kind: 'end' });
      expect(deferred(parts, times, { kind: 'end' }, random)).toEqual(expected);
    }
  });

  it('queued pieces keep their own arrival times, not the time they are flushed', () => {
    const text = fixture('vllm-0.11-reasoning-usage.sse');
    const events = text.split('\n\n').filter((e) => e.trim() !== '');
    const timer = new StreamTimer(0);
    timer.headers(200, 5);
    events.forEach((e, i) => timer.queue(`${e}\n\n`, 10 * (i + 1)));
    expect(timer.queued).toBe(events.length);
    timer.flush();
    expect(timer.queued).toBe(0);
    const t = timer.end(1000);
    expect(t.ttftMs).toBe(20);
    expect(t.tokenTimesMs).toEqual([20, 30, 40, 50]);
    expect(t.timeToFirstAnswerMs).toBe(40);
  });

  it('an event split across queued pieces is stamped with the piece that completes it', () => {
    const timer = new StreamTimer(0);
    timer.headers(200, 1);
    expect(timer.queue('data: {"choices":[{"delta":{"con', 2)).toBe(true);
    expect(timer.queue('tent":"a"}}]}\n', 3)).toBe(false); // the queue was not empty
    expect(timer.queue('\ndata: [DONE]\n\n', 4)).toBe(false);
    const t = timer.end(5);
    expect(t).toMatchObject({ ok: true, ttftMs: 4, tokenTimesMs: [4] });
  });

  it('end with pieces still queued decodes them first (the [DONE] in the queue counts)', () => {
    const timer = new StreamTimer(0);
    timer.headers(200, 1);
    timer.queue('data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 2);
    timer.queue(
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n',
      3,
    );
    expect(timer.end(4)).toMatchObject({ ok: true, ttftMs: 2, completionTokens: 1, tokenSource: 'usage' });
  });

  it('a failure (timeout, reset) with pieces still queued keeps the tokens they carried', () => {
    const parts = [
      Buffer.from('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'),
      Buffer.from('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[{"de'),
      Buffer.from('lta":{"content":"b"}}]}\n\n'),
    ];
    const times = [2, 3, 7];
    const ending: Ending = { kind: 'fail', message: 'no complete answer within 10 ms' };
    const expected = synchronous(parts, times, ending);
    const timer = new StreamTimer(0);
    timer.headers(200, 0.5);
    parts.forEach((p, i) => timer.queue(p, times[i] as number));
    const t = timer.fail(ending.message, 8);
    expect(t).toEqual(expected);
    expect(t).toMatchObject({ failure: 'stream_cut', timeToRoleMs: 2, ttftMs: 3, tokenTimesMs: [3, 7] });
  });

  it('a non-2xx body queued in pieces gives the same HTTP error', () => {
    const body = Buffer.from('{"error":{"message":"Loading model","type":"unavailable_error","code":503}}');
    const parts = [body.subarray(0, 17), body.subarray(17)];
    const expected = synchronous(parts, [2, 3], { kind: 'end' }, 503);
    const t = deferred(parts, [2, 3], { kind: 'end' }, () => 1, 503);
    expect(t).toEqual(expected);
    expect(t).toMatchObject({ failure: 'http_error', errorMessage: 'Loading model' });
  });

  it('data() after queued pieces decodes the queue first, so events stay in order', () => {
    const timer = new StreamTimer(0);
    timer.headers(200, 1);
    timer.queue('data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 2);
    timer.data('data: {"choices":[{"delta":{"content":"b"}}]}\n\ndata: [DONE]\n\n', 3);
    expect(timer.queued).toBe(0);
    expect(timer.end(4).tokenTimesMs).toEqual([2, 3]);
  });
});
