// vLLM with stream_options {include_usage, continuous_usage_stats} puts `usage` on every chunk it
// yields — the role chunk (0 completion tokens), each delta, and the separate finish chunk an EOS
// stop produces (its delta is "") — then the usage-only chunk (vllm/entrypoints/openai
// serving_chat.py, chat_completion_stream_generator; same in 0.11.0). The simulator does it; the
// gateway, which asks vLLM for the running counts itself, keeps the client's accounting right:
// running usage only for a client that asked for it, the final usage equal to the server's.
import { afterEach, describe, expect, it } from 'vitest';
import { startSimEndpoint, type SimServer } from '../../src/sim/endpoint.ts';
import { startHarness, streamChat, type Harness } from './harness.ts';

const messages = [{ role: 'user', content: 'a short answer that stops on its own' }];
type Chunk = {
  choices: { finish_reason: string | null }[];
  usage?: { completion_tokens: number; prompt_tokens: number };
};

let h: Harness | undefined;
let sim: SimServer | undefined;
afterEach(async () => {
  await h?.close();
  await sim?.close();
  h = undefined;
  sim = undefined;
});

function chunks(text: string): Chunk[] {
  return text
    .split('\n\n')
    .map((b) => b.replace(/^data: /, '').trim())
    .filter((d) => d !== '' && d !== '[DONE]' && !d.startsWith(':'))
    .map((d) => JSON.parse(d) as Chunk);
}

describe('vLLM 0.11.0 continuous_usage_stats', () => {
  it('the simulator puts usage on every chunk, the separate finish chunk included, then the usage chunk', async () => {
    sim = await startSimEndpoint({
      dialect: 'vllm',
      model: 'm',
      version: '0.11.0',
      naturalAnswerTokens: 5,
      latency: { scale: 0.01 },
    });
    const res = await fetch(`${sim.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm',
        messages,
        max_tokens: 50,
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      }),
    });
    const all = chunks(await res.text());
    const withChoices = all.filter((c) => c.choices.length > 0);
    expect(withChoices.every((c) => c.usage !== undefined)).toBe(true);
    const finish = withChoices.at(-1);
    expect(finish?.choices[0]?.finish_reason).toBe('stop');
    const final = all.at(-1);
    expect(final?.choices).toEqual([]);
    expect(finish?.usage).toEqual(final?.usage);
    expect(final?.usage?.completion_tokens).toBe(sim.groundTruth().at(-1)?.completionTokens);
  });

  const cases = [
    {
      name: 'asks for running usage',
      options: { include_usage: true, continuous_usage_stats: true },
      running: true,
      final: true,
    },
    { name: 'asks for the usage chunk only', options: { include_usage: true }, running: false, final: true },
    { name: 'asks for no usage', options: undefined, running: false, final: false },
  ];
  for (const c of cases) {
    it(`through the gateway, a client that ${c.name} gets exactly that, with the server's counts`, async () => {
      h = await startHarness({ sim: { coder: { version: '0.11.0', naturalAnswerTokens: 5 } } });
      const r = await streamChat(h.url, {
        model: 'coder',
        messages,
        max_tokens: 50,
        ...(c.options ? { stream_options: c.options } : {}),
      });
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      const events = r.events as Chunk[];
      const withChoices = events.filter((e) => e.choices.length > 0);
      const finish = withChoices.at(-1);
      expect(finish?.choices[0]?.finish_reason).toBe('stop');
      const truth = h.sims.coder?.groundTruth().at(-1);
      if (c.running) {
        expect(withChoices.every((e) => e.usage !== undefined)).toBe(true);
        expect(finish?.usage?.completion_tokens).toBe(truth?.completionTokens);
      } else expect(withChoices.some((e) => e.usage !== undefined)).toBe(false);
      const usageChunks = events.filter((e) => e.choices.length === 0 && e.usage);
      expect(usageChunks.length).toBe(c.final ? 1 : 0);
      if (c.final) expect(usageChunks[0]?.usage?.completion_tokens).toBe(truth?.completionTokens);
      const record = h.records.at(-1);
      expect(record?.completionTokens).toBe(truth?.completionTokens);
      expect(record?.promptTokens).toBe(truth?.promptTokens);
    });
  }
});
