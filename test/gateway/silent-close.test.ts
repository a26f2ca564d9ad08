// mlx_lm refuses a value it validates by raising in the handler thread, outside any try block: the
// socket closes cleanly (FIN) right after the body was read, with no response byte (mlx_lm 0.31.2
// server.py validate_model_parameters). The gateway checks every field the released servers
// validate; this is the fallback for one it does not know (the simulator's refuseFields, a newer
// mlx_lm's check). A silent close is never counted against the endpoint and never retried there: it
// goes once elsewhere, and a second silent close is the request's fault (400). A reset (RST) on the
// same server stays a reset.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { postJson, seen, startHarness, type Harness } from './harness.ts';

const FIELD = 'future_sampler_knob';
const messages = [{ role: 'user', content: 'a request with a field mlx_lm will refuse' }];
const body = { model: 'small', messages, max_tokens: 8, [FIELD]: 3 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const state = (h: Harness, e: string): { breaker: string; health: string } => ({
  breaker: h.gateway.context.breaker(e).snapshot(Date.now()).state,
  health: h.gateway.context.health.state(e),
});

describe('a value mlx_lm 0.31.2 refuses that the gateway does not know about', () => {
  it('the mlx endpoint closes silently: the request goes once elsewhere and succeeds there; nothing is counted against it', async () => {
    h = await startHarness({ sim: { small: { version: '0.31.2', refuseFields: [FIELD] } } });
    for (let i = 0; i < 6; i++) {
      const r = await postJson(h.url, '/v1/chat/completions', body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.headers.get('x-llm-fleet-endpoint')).toBe('coder-fast');
      expect(r.headers.get('x-llm-fleet-reason')).toContain('after small closed_without_answer');
    }
    expect(h.records.at(-1)?.attempts?.[0]).toMatchObject({
      endpoint: 'small',
      error: 'closed_without_answer',
    });
    // One attempt per request on small: never retried there as a reset.
    expect(seen(h, 'small')).toBe(6);
    expect(state(h, 'small')).toMatchObject({ breaker: 'closed' });
    expect(state(h, 'small').health).not.toBe('down');
  });

  it('the fallback (another mlx_lm) closes the same way: a 400 naming both, and the openai client gets BadRequestError', async () => {
    h = await startHarness({
      sim: {
        small: { version: '0.31.2', refuseFields: [FIELD] },
        'coder-fast': { dialect: 'mlx', version: '0.31.2', refuseFields: [FIELD] },
      },
      patch: (e) => (e.name === 'coder-fast' ? { dialect: 'mlx' } : {}),
    });
    const r = await postJson(h.url, '/v1/chat/completions', body);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'upstream_refused_request', type: 'invalid_request_error' });
    expect(String((r.body.error as { message: string }).message)).toMatch(
      /small and coder-fast closed the connection without an answer: mlx_lm does this when it refuses a parameter value/,
    );
    const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.chat.completions
      .create({
        model: 'small',
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 8,
        [FIELD]: 3,
      } as never)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    for (const e of ['small', 'coder-fast']) {
      expect(state(h, e).breaker, e).toBe('closed');
      expect(state(h, e).health, e).not.toBe('down');
    }
  });

  it('no other candidate: a 502 that says what the close may mean, still not counted against the endpoint', async () => {
    h = await startHarness({
      sim: { small: { version: '0.31.2', refuseFields: [FIELD] } },
      patch: (e) => (e.name === 'small' ? { fallbacks: [] } : {}),
    });
    for (let i = 0; i < 4; i++) {
      const r = await postJson(h.url, '/v1/chat/completions', body);
      expect(r.status).toBe(502);
      expect(r.body.error).toMatchObject({ code: 'closed_without_answer' });
      expect(String((r.body.error as { message: string }).message)).toContain(
        'as mlx_lm does when it refuses a value',
      );
    }
    expect(state(h, 'small').breaker).toBe('closed');
  });

  it('a reset (RST) on the same mlx server is still a reset: counted, and failed over as one', async () => {
    h = await startHarness({ faults: { small: [{ kind: 'reset' }] } });
    const r = await postJson(h.url, '/v1/chat/completions', { model: 'small', messages, max_tokens: 8 });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-llm-fleet-reason')).toContain('small connection_reset');
  });
});
