import { describe, expect, it } from 'vitest';
import {
  classifyHttpError,
  classifyStreamError,
  parseRetryAfterMs,
  upstreamMessage,
} from './upstream-error.ts';

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

  it('knows every context-length wording of the servers, across versions', () => {
    const wordings: [number, string][] = [
      [
        400,
        "This model's maximum context length is 8192 tokens. However, you requested 9064 tokens (9000 in the messages, 64 in the completion). Please reduce the length of the messages or completion.",
      ],
      [
        400,
        "'max_tokens' or 'max_completion_tokens' is too large: 64. This model's maximum context length is 8192 tokens and your request has 8150 input tokens (64 > 8192 - 8150). None",
      ],
      [
        400,
        "This model's maximum context length is 8192 tokens. However, you requested 64 output tokens and your prompt contains at least 8129 input tokens, for a total of at least 8193 tokens.",
      ],
      [
        400,
        'max_tokens=131073 cannot be greater than max_model_len=max_total_tokens=131072. Please request fewer output tokens.',
      ],
      [400, 'request (9412 tokens) exceeds the available context size (8192 tokens), try increasing it'],
      [400, 'input (1682 tokens) is larger than the max context size (1024 tokens). skipping'],
      [422, 'Input validation error: `inputs` must have less than 512 tokens. Given: 900'],
      [422, 'Input validation error: `inputs` must have less than 128000 characters. Given: 130001'],
    ];
    for (const [status, message] of wordings)
      expect(classifyHttpError('e', status, JSON.stringify({ error: { message } })).cause, message).toBe(
        'context_length',
      );
  });

  it('reads an in-stream error before any token (llama.cpp before PR #16486) as context length when it is', () => {
    const overflow =
      '{"error":{"code":400,"message":"request (40000 tokens) exceeds the available context size (32768 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":40000,"n_ctx":32768}}';
    expect(classifyStreamError('r1', overflow).cause).toBe('context_length');
    expect(
      classifyStreamError('r1', '{"error":{"code":500,"message":"boom","type":"server_error"}}').cause,
    ).toBe('stream_error');
  });

  it("keeps a provider's string code and type, never a numeric status code", () => {
    expect(
      classifyHttpError(
        'x',
        400,
        '{"error":{"message":"rejected","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}',
      ),
    ).toMatchObject({
      cause: 'invalid_request',
      upstreamType: 'invalid_request_error',
      upstreamCode: 'content_policy_violation',
    });
    expect(
      classifyHttpError('x', 400, '{"error":{"message":"bad","type":"BadRequestError","code":400}}'),
    ).toMatchObject({
      upstreamType: 'BadRequestError',
      upstreamCode: undefined,
    });
  });

  it('parses Retry-After as seconds, as a date, and retry-after-ms', () => {
    expect(parseRetryAfterMs('2')).toBe(2000);
    expect(parseRetryAfterMs(undefined, '150')).toBe(150);
    expect(parseRetryAfterMs(new Date(10_000).toUTCString(), undefined, 7_000)).toBe(3000);
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });
});
