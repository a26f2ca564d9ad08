import { describe, expect, it } from 'vitest';
import { classifyHttpError, parseRetryAfterMs, upstreamMessage } from './upstream-error.ts';

describe('upstream errors', () => {
  it('reads every error body shape of the fleet', () => {
    expect(upstreamMessage('{"error":{"message":"m1","type":"BadRequestError","code":400}}')).toEqual({
      message: 'm1',
      type: 'BadRequestError',
    });
    expect(upstreamMessage('{"object":"error","message":"m2","type":"BadRequestError","code":400}')).toEqual({
      message: 'm2',
      type: 'BadRequestError',
    });
    expect(upstreamMessage('{"error":"Unauthorized"}')).toEqual({ message: 'Unauthorized', type: undefined });
    expect(
      upstreamMessage(
        '{"message":"batch size 33 > maximum allowed batch size 32","code":422,"type":"Validation"}',
      ).message,
    ).toContain('batch size 33');
    expect(upstreamMessage('')).toEqual({ message: '' });
    expect(upstreamMessage('Not Found')).toEqual({ message: 'Not Found' });
  });

  it('classifies context overflow by dialect wording, and statuses by what can be done', () => {
    const vllm =
      "This model's maximum context length is 32768 tokens. However, your request has 40000 input tokens.";
    expect(classifyHttpError('coder', 400, JSON.stringify({ error: { message: vllm } })).cause).toBe(
      'context_length',
    );
    expect(
      classifyHttpError(
        'r1',
        400,
        JSON.stringify({
          error: {
            message: 'the request exceeds the available context size',
            type: 'exceed_context_size_error',
            n_ctx: 4096,
          },
        }),
      ).cause,
    ).toBe('context_length');
    expect(
      classifyHttpError(
        'e',
        422,
        '{"message":"`inputs` must have less than 512 tokens. Given: 900","code":422,"type":"Validation"}',
      ).cause,
    ).toBe('context_length');
    expect(classifyHttpError('x', 400, '{"error":{"message":"temperature must be >= 0"}}').cause).toBe(
      'invalid_request',
    );
    expect(classifyHttpError('x', 429, '', 2000)).toMatchObject({
      cause: 'rate_limited',
      retryAfterMs: 2000,
    });
    expect(classifyHttpError('x', 503, '')).toMatchObject({
      cause: 'overloaded',
      message: 'HTTP 503 with an empty body',
    });
    expect(classifyHttpError('x', 500, '').cause).toBe('server_error');
  });

  it('parses Retry-After as seconds, as a date, and retry-after-ms', () => {
    expect(parseRetryAfterMs('2')).toBe(2000);
    expect(parseRetryAfterMs(undefined, '150')).toBe(150);
    expect(parseRetryAfterMs(new Date(10_000).toUTCString(), undefined, 7_000)).toBe(3000);
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });
});
