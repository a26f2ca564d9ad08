import { describe, expect, it } from 'vitest';
import { parseStreamChunk } from './stream-chunk.ts';

describe('parseStreamChunk', () => {
  it('a vLLM role chunk carries no token; content and reasoning chunks do', () => {
    const role = parseStreamChunk(
      '{"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}',
    );
    expect(role).toMatchObject({ kind: 'delta', hasToken: false, content: '' });
    expect(parseStreamChunk('{"choices":[{"index":0,"delta":{"reasoning_content":"Okay"}}]}')).toMatchObject({
      hasToken: true,
      reasoning: 'Okay',
    });
    expect(parseStreamChunk('{"choices":[{"index":0,"delta":{"reasoning":"Hm"}}]}')).toMatchObject({
      hasToken: true,
      reasoning: 'Hm',
    });
    expect(
      parseStreamChunk('{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]}'),
    ).toMatchObject({
      hasToken: true,
      content: 'Hi',
    });
  });

  it('reads finish_reason, usage-only chunks and completions text', () => {
    expect(parseStreamChunk('{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')).toMatchObject({
      hasToken: false,
      finishReason: 'stop',
    });
    expect(
      parseStreamChunk(
        '{"choices":[],"usage":{"prompt_tokens":14,"total_tokens":57,"completion_tokens":43}}',
      ),
    ).toMatchObject({
      usageOnly: true,
      usage: { promptTokens: 14, completionTokens: 43 },
    });
    expect(parseStreamChunk('{"choices":[{"index":0,"text":" world"}]}')).toMatchObject({
      hasToken: true,
      content: ' world',
    });
  });

  it('error frames (object and string), [DONE] and malformed JSON', () => {
    expect(
      parseStreamChunk(
        '{"error": {"message": "boom", "type": "BadRequestError", "param": null, "code": 400}}',
      ),
    ).toEqual({
      kind: 'error',
      message: 'boom',
      status: 400,
    });
    expect(parseStreamChunk('{"error":"bad"}')).toEqual({ kind: 'error', message: 'bad' });
    expect(parseStreamChunk('[DONE]')).toEqual({ kind: 'done' });
    expect(parseStreamChunk('{"choices":[{"delta":')).toMatchObject({ kind: 'invalid' });
  });
});
