// Stream rescue as the real servers make it happen, seen from the client through the gateway:
// refused continuations (llama.cpp b6715's thinking-template 400), continued reasoning on vLLM's
// qwen3 and deepseek_r1 parsers (v0.11.0 and v0.17.0) and on llama.cpp with thinking off, token
// accounting from the servers' running counts (several tokens per chunk), a finished stream
// without [DONE], usage for non-streaming clients of mlx_lm 0.16 (no usage in streams), and the
// decisive cause of a failed request.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { planOutput, simAnswer } from '../../src/sim/generator.ts';
import { chatAnswerKey } from '../../src/sim/prompt.ts';
import {
  expectedAnswer,
  postJson,
  SEED,
  startHarness,
  streamChat,
  TEST_TIMEOUTS,
  type Harness,
  type HarnessOptions,
} from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});
const start = async (options: HarnessOptions): Promise<Harness> => (h = await startHarness(options));

const metricsOf = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text();
const metricValue = (text: string, name: string, labels: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

/** Token count of the uninterrupted answer (what one upstream would emit), and its reasoning part. */
function answerTokens(
  messages: { role: string; content: string }[],
  maxTokens: number,
  reasoning = false,
): { total: number; reasoning: number } {
  const plan = planOutput(simAnswer(SEED, chatAnswerKey(messages), reasoning), {
    maxTokens,
    ignoreEos: false,
    minTokens: 0,
  });
  return { total: plan.reasoning.length + plan.content.length, reasoning: plan.reasoning.length };
}

describe('a refused continuation ends only its own attempt (vLLM 0.11.0, llama.cpp b6715)', () => {
  it('llama.cpp refuses the prefill (thinking template, 400); the endpoint that was cut continues its own answer', async () => {
    await start({
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 6, firstRequests: 1 }] },
      // coder cannot continue; deepseek-r1 is a thinking model the fleet file does not mark as one,
      // so the gateway sends it a plain prefill, which llama.cpp refuses with a 400.
      patch: (e) =>
        e.name === 'coder' ? { canContinue: false } : e.name === 'deepseek-r1' ? { reasoning: false } : {},
    });
    const messages = [{ role: 'user' as const, content: 'refused then continued' }];
    const client = new OpenAI({ baseURL: `${h!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'auto',
      messages,
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const ids = new Set<string>();
    let last: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      ids.add(chunk.id);
      last = chunk;
    }
    expect(text).toBe(expectedAnswer(messages, { maxTokens: 200 }).content);
    // One stream, one identity; the rescue is told in the final chunk (headers were already sent).
    expect(ids.size).toBe(1);
    expect((last as { llm_fleet?: unknown }).llm_fleet).toEqual({
      rescued: true,
      rescues: [{ from: 'coder-fast', to: 'coder-fast', cause: 'stream_cut', after_tokens: 6 }],
    });
    const record = h!.records.at(-1);
    expect(record?.outcome).toBe('ok');
    expect(record?.attempts.map((a) => [a.endpoint, a.error ?? 'ok', a.continuation ?? false])).toEqual([
      ['coder-fast', 'stream_cut', false],
      ['deepseek-r1', 'invalid_request', true],
      ['coder-fast', 'ok', true],
    ]);
    expect(record?.attempts[1]?.status).toBe(400);
    const metrics = await metricsOf(h!.url);
    // A continuation on the endpoint that was cut is a rescue, not a failover to itself.
    expect(
      metricValue(metrics, 'llm_fleet_rescues_total', 'from="coder-fast",to="coder-fast",cause="stream_cut"'),
    ).toBe(1);
    expect(metrics).toContain('same_endpoint="true"');
    expect(metricValue(metrics, 'llm_fleet_failovers_total', 'from="coder-fast",to="coder-fast"')).toBe(
      undefined,
    );
  });

  it('when every candidate refuses or cannot continue, the error names the original cut and the record stays with the endpoint that broke', async () => {
    await start({
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 5 }] },
      patch: (e) => (e.name === 'deepseek-r1' ? { reasoning: false } : { canContinue: false }),
    });
    const r = await streamChat(h!.url, {
      model: 'auto',
      messages: [{ role: 'user', content: 'nobody continues' }],
      max_tokens: 200,
    });
    expect(r.done).toBe(false);
    expect(r.error?.code).toBe('stream_cut');
    expect(r.error?.message).toMatch(/^coder-fast: stream_cut: /);
    const record = h!.records.at(-1);
    expect(record?.attempts.map((a) => [a.endpoint, a.error])).toEqual([
      ['coder-fast', 'stream_cut'],
      ['deepseek-r1', 'invalid_request'],
    ]);
    expect(record?.endpoint).toBe('coder-fast');
    expect(record?.outcome).toBe('upstream_error');
    const metrics = await metricsOf(h!.url);
    expect(
      metricValue(
        metrics,
        'llm_fleet_requests_total',
        'endpoint="coder-fast",route="auto",operation="chat",outcome="upstream_error"',
      ),
    ).toBe(1);
  });
});

describe('continuing a reasoning answer puts the text in the right fields', () => {
  it('llama.cpp b6715, thinking template: continued with thinking off (everything comes back as content) and re-split at </think>', async () => {
    await start({ faults: { 'deepseek-r1': [{ kind: 'cut', afterTokens: 8, firstRequests: 1 }] } });
    const messages = [{ role: 'user' as const, content: 'think, then answer' }];
    const r = await streamChat(h!.url, { model: 'deepseek-r1', messages, max_tokens: 400 });
    const expected = expectedAnswer(messages, { maxTokens: 400, reasoning: true });
    expect(r.error).toBeUndefined();
    expect(r.reasoning).toBe(expected.reasoning);
    expect(r.content).toBe(expected.content);
    expect(r.content).not.toContain('</think>');
    expect(h!.records.at(-1)?.attempts.map((a) => a.continuation ?? false)).toEqual([false, true]);
  });

  it('continueReasoning: false in the fleet file: a reasoning answer is not continued there, the error says so', async () => {
    await start({
      faults: { 'deepseek-r1': [{ kind: 'cut', afterTokens: 8, firstRequests: 1 }] },
      patch: (e) => (e.name === 'deepseek-r1' ? { continueReasoning: false } : {}),
    });
    const r = await streamChat(h!.url, {
      model: 'deepseek-r1',
      messages: [{ role: 'user', content: 'think, then stop' }],
      max_tokens: 400,
    });
    expect(r.error?.code).toBe('stream_cut');
    expect(r.reasoning.length).toBeGreaterThan(0);
    expect(h!.records.at(-1)?.attempts).toHaveLength(1);
  });

  const vllmReasoning = (parser: 'qwen3' | 'deepseek_r1', version: string): HarnessOptions => ({
    sim: { 'coder-fast': { reasoning: true, reasoningParser: parser, version } },
    patch: (e) =>
      e.name === 'coder-fast' ? { reasoning: true, reasoningParser: parser, serverVersion: version } : {},
  });
  const cases: { parser: 'qwen3' | 'deepseek_r1'; version: string; where: 'reasoning' | 'content' }[] = [
    // qwen3 before PR #34779: the whole continuation arrives as content, </think> included.
    { parser: 'qwen3', version: '0.11.0', where: 'reasoning' },
    { parser: 'qwen3', version: '0.17.0', where: 'reasoning' },
    // 0.11.1–0.15 send reasoning under both keys: the re-split chunks do too.
    { parser: 'qwen3', version: '0.12.0', where: 'reasoning' },
    { parser: 'qwen3', version: '0.11.0', where: 'content' },
    { parser: 'deepseek_r1', version: '0.11.0', where: 'reasoning' },
    // deepseek_r1 before PR #34779: a continuation of content arrives as reasoning.
    { parser: 'deepseek_r1', version: '0.11.0', where: 'content' },
    { parser: 'deepseek_r1', version: '0.17.0', where: 'content' },
  ];
  for (const c of cases) {
    it(`vLLM ${c.version} --reasoning-parser ${c.parser}, cut inside the ${c.where}`, async () => {
      const messages = [{ role: 'user' as const, content: `continue ${c.parser} ${c.where}` }];
      const counts = answerTokens(messages, 600, true);
      const afterTokens = c.where === 'reasoning' ? 10 : counts.reasoning + 4;
      await start({
        ...vllmReasoning(c.parser, c.version),
        faults: { 'coder-fast': [{ kind: 'cut', afterTokens, firstRequests: 1 }] },
      });
      const r = await streamChat(h!.url, { model: 'coder-fast', messages, max_tokens: 600 });
      const expected = expectedAnswer(messages, { maxTokens: 600, reasoning: true });
      expect(r.error).toBeUndefined();
      expect(r.reasoning).toBe(expected.reasoning);
      expect(r.content).toBe(expected.content);
      expect(h!.records.at(-1)?.attempts.map((a) => a.endpoint)).toEqual(['coder-fast', 'coder-fast']);
      if (c.version === '0.12.0') {
        const deltas = r.events.map(
          (e) => (e as { choices?: { delta?: Record<string, unknown> }[] }).choices?.[0]?.delta ?? {},
        );
        const reasoningDeltas = deltas.filter((d) => typeof d.reasoning_content === 'string');
        expect(reasoningDeltas.length).toBeGreaterThan(10);
        for (const d of reasoningDeltas) expect(d.reasoning).toBe(d.reasoning_content);
      }
    });
  }
});

describe('token accounting after a rescue (vLLM 0.11.0 writing 4 tokens per chunk)', () => {
  it("usage = the original prompt, the tokens relayed before the cut and the continuation's, from the servers' counts; the client's max_tokens holds", async () => {
    await start({
      sim: { 'coder-fast': { tokensPerChunk: 4 }, coder: { tokensPerChunk: 4 } },
      faults: { 'coder-fast': [{ kind: 'cut', afterTokens: 9 }] },
    });
    const messages = [{ role: 'user' as const, content: 'count every token' }];
    const maxTokens = 20;
    const client = new OpenAI({ baseURL: `${h!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'auto',
      messages,
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined;
    let finish: string | null | undefined;
    let runningUsage = 0;
    for await (const chunk of stream) {
      if (chunk.choices.length > 0 && chunk.usage) runningUsage++;
      const delta = chunk.choices[0]?.delta?.content ?? '';
      if (delta !== '') chunks++;
      text += delta;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    const expectedTokens = answerTokens(messages, maxTokens).total;
    expect(text).toBe(expectedAnswer(messages, { maxTokens }).content);
    const firstTry = h!.sims['coder-fast']?.groundTruth().at(-1);
    const rescue = h!.sims.coder?.groundTruth().at(-1);
    expect(firstTry?.completionTokens).toBe(9);
    expect(rescue?.completionTokens).toBe(expectedTokens - 9);
    expect(usage).toMatchObject({
      prompt_tokens: firstTry?.promptTokens,
      completion_tokens: expectedTokens,
      total_tokens: (firstTry?.promptTokens ?? 0) + expectedTokens,
    });
    // The running counts the gateway asked for upstream are not the client's.
    expect(runningUsage).toBe(0);
    // Fewer chunks than tokens: a count of chunks would have been wrong.
    expect(chunks).toBeLessThan(expectedTokens);
    expect(expectedTokens).toBe(maxTokens);
    expect(finish).toBe('length');
    const record = h!.records.at(-1);
    expect(record?.completionTokens).toBe(expectedTokens);
    expect(record?.tokenSource).toBe('usage');
    // Charged to the endpoint whose first token the client got; the rescue is in the attempts.
    expect(record?.endpoint).toBe('coder-fast');
    expect(record?.attempts.map((a) => [a.endpoint, a.continuation ?? false])).toEqual([
      ['coder-fast', false],
      ['coder', true],
    ]);
    const metrics = await metricsOf(h!.url);
    expect(metricValue(metrics, 'llm_fleet_failovers_total', 'from="coder-fast",to="coder"')).toBe(1);
    expect(metricValue(metrics, 'llm_fleet_rescues_total', 'from="coder-fast",to="coder"')).toBe(1);
  });
});

describe('mlx_lm 0.31.2 counts the EOS it never sends', () => {
  it("the client and the record get the answer's own token count, streaming and not", async () => {
    await start({ patch: (e, urls) => (e.name === 'small' ? { status: 'running', url: urls.small } : {}) });
    const messages = [{ role: 'user' as const, content: 'stop on your own' }];
    const natural = answerTokens(messages, 2_000).total;
    const client = new OpenAI({ baseURL: `${h!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'small',
      messages,
      max_tokens: 2_000,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    const truth = h!.sims.small?.groundTruth().at(-1);
    expect(truth?.finishReason).toBe('stop');
    expect(truth?.completionTokens).toBe(natural);
    expect(usage?.completion_tokens).toBe(natural);
    expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + natural);
    expect(h!.records.at(-1)?.completionTokens).toBe(natural);
    const whole = await client.chat.completions.create({ model: 'small', messages, max_tokens: 2_000 });
    expect(whole.usage?.completion_tokens).toBe(natural);
    expect(h!.records.at(-1)?.completionTokens).toBe(natural);
  });
});

describe('a complete answer is complete', () => {
  it('a stream with its finish reason but no [DONE] is relayed whole, [DONE] added, nothing continued, nothing counted against the endpoint', async () => {
    await start({ faults: { 'coder-fast': [{ kind: 'no-done' }] } });
    const messages = [{ role: 'user' as const, content: 'no terminator' }];
    const r = await streamChat(h!.url, { model: 'auto', messages, max_tokens: 100 });
    expect(r.error).toBeUndefined();
    expect(r.done).toBe(true);
    expect(r.content).toBe(expectedAnswer(messages, { maxTokens: 100 }).content);
    const record = h!.records.at(-1);
    expect(record?.attempts).toHaveLength(1);
    expect(record?.attempts[0]).toMatchObject({ endpoint: 'coder-fast' });
    expect(record?.attempts[0]?.error).toBeUndefined();
    expect(h!.sims.coder ? h!.sims.coder.groundTruth().length : 0).toBe(0);
    const whole = await postJson(h!.url, '/v1/chat/completions', {
      model: 'auto',
      messages,
      max_tokens: 100,
    });
    expect(whole.status).toBe(200);
    expect((whole.body.choices as { message: { content: string } }[])[0]?.message.content).toBe(
      expectedAnswer(messages, { maxTokens: 100 }).content,
    );
    expect(h!.records.at(-1)?.attempts).toHaveLength(1);
    const metrics = await metricsOf(h!.url);
    expect(metricValue(metrics, 'llm_fleet_attempts_total', 'endpoint="coder-fast",result="ok"')).toBe(2);
  });
});

describe('what the client and the record say', () => {
  it('a non-streaming client gets usage from mlx_lm 0.16.0, which sends none in streams', async () => {
    await start({
      sim: { small: { version: '0.16.0' } },
      patch: (e, urls) => (e.name === 'small' ? { status: 'running', url: urls.small } : {}),
    });
    const messages = [{ role: 'user' as const, content: 'usage please' }];
    const client = new OpenAI({ baseURL: `${h!.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'small', messages, max_tokens: 50 });
    const truth = h!.sims.small?.groundTruth().at(-1);
    expect(truth?.stream).toBe(true);
    expect(r.usage?.completion_tokens).toBe(truth?.completionTokens);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(r.usage?.total_tokens).toBe((r.usage?.prompt_tokens ?? 0) + (r.usage?.completion_tokens ?? 0));
    expect(h!.records.at(-1)?.tokenSource).toBe('chunks');
  });

  it("every candidate failed: the code is the decisive failure's (a TTFT timeout), not the full queue met last; the message keeps every cause; the record is charged where it happened", async () => {
    await start({
      faults: { 'coder-fast': [{ kind: 'hang' }], coder: [{ kind: 'hang' }] },
      // coder takes one request at a time, and holds it for long.
      patch: (e) =>
        e.name === 'coder'
          ? { maxConcurrency: 1, maxQueue: 0, timeouts: { ...TEST_TIMEOUTS, ttftTimeoutMs: 20_000 } }
          : {},
    });
    const holder = new AbortController();
    const held = fetch(`${h!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'coder', messages: [{ role: 'user', content: 'hold' }] }),
      signal: holder.signal,
    }).catch(() => undefined);
    // The holder takes coder's one slot at once (it then waits for a first token that never comes).
    await new Promise((resolve) => setTimeout(resolve, 500));
    const messages = [{ role: 'user' as const, content: 'nobody answers' }];
    const r = await postJson(h!.url, '/v1/chat/completions', { model: 'coder-fast', messages });
    holder.abort();
    await held;
    const error = r.body.error as { code: string; message: string };
    expect(r.status).toBe(504);
    expect(error.code).toBe('ttft_timeout');
    expect(error.message).toContain('coder-fast: ttft_timeout');
    expect(error.message).toContain('coder: queue_full');
    expect(h!.records.at(-1)?.endpoint).toBe('coder-fast');
  });
});
