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
