// TTFT by one definition under each server's stream shape, checked against the simulator's ground
// truth in the same process (same clock): the client can never see a token before the server wrote
// it, so a measured TTFT below the true one means a role chunk, keep-alive comment or usage chunk
// stopped the clock. Reasoning must stop it at the first reasoning token, not at the answer.
import { afterEach, describe, expect, it } from 'vitest';
import { chatBody, httpTarget, timedStream } from '../../src/calibrate/index.ts';
import type { SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';

let sim: SimServer | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const cases = [
  { dialect: 'vllm', version: '0.11.0', reasoning: true, shape: 'role-only first chunk, reasoning_content' },
  { dialect: 'vllm', version: '0.12.0', reasoning: true, shape: 'reasoning key `reasoning`' },
  { dialect: 'vllm', version: '0.11.0', reasoning: false, shape: 'role-only first chunk, content' },
  { dialect: 'mlx', version: undefined, reasoning: true, shape: 'keep-alive comments, role on every delta' },
  {
    dialect: 'llamacpp',
    version: undefined,
    reasoning: true,
    shape: 'role with null content, separate finish chunk',
  },
] as const;

describe('TTFT definition under each dialect (simulator ground truth)', () => {
  it.each(cases)(
    '$dialect $version ($shape), reasoning=$reasoning',
    async ({ dialect, version, reasoning }) => {
      sim = await startSimEndpoint({
        dialect,
        version,
        model: 'm',
        reasoning,
        // A long prompt so mlx_lm sends several keep-alive comments while it prefills.
        latency: {
          prefillOverheadMs: 30,
          prefillMsPerToken: 0.01,
          decodeTokensPerSecond: 5000,
          ttftJitterP99Ratio: 1.2,
        },
      });
      const target = httpTarget(sim.url, { connections: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          const id = `ttft-${dialect}-${i}`;
          const t = await timedStream(
            target,
            '/v1/chat/completions',
            chatBody({ model: 'm', promptTokens: 5000, maxTokens: 300 }, dialect, id),
            30_000,
            id,
          );
          const truth = sim.groundTruth().find((r) => r.clientRequestId === id);
          expect(t.ok).toBe(true);
          expect(truth?.ttftMs).toBeDefined();
          // Never earlier than the server's first token …
          expect(t.ttftMs as number).toBeGreaterThanOrEqual(truth?.ttftMs as number);
          if (reasoning) {
            // … and stopped by the first reasoning token, not the answer: the server wrote reasoning
            // first (its ground truth), the event that stopped the client's clock carried reasoning,
            // and the answer's clock stopped no sooner than the server wrote the answer. Checked by
            // order, not by time: a loaded client may read both in one piece, with one stamp.
            expect(truth?.reasoningTokens).toBeGreaterThan(0);
            expect(truth?.ttftContentMs as number).toBeGreaterThanOrEqual(truth?.ttftMs as number);
            expect(t.reasoningEvents).toBeGreaterThan(0);
            expect(t.firstTokenKind).toBe('reasoning');
            expect(t.timeToFirstAnswerMs as number).toBeGreaterThanOrEqual(t.ttftMs as number);
            expect(t.timeToFirstAnswerMs as number).toBeGreaterThanOrEqual(truth?.ttftContentMs as number);
          } else {
            expect(t.firstTokenKind).toBe('content');
          }
          expect(t.tokenSource).toBe('usage');
          // calibrate reports the server's usage as is: mlx_lm's counts the EOS of an answer that
          // stopped on its own, which it never sends (the gateway corrects it, calibrate does not).
          const unsentEos = dialect === 'mlx' && truth?.finishReason === 'stop' ? 1 : 0;
          expect(t.completionTokens).toBe((truth?.completionTokens ?? 0) + unsentEos);
          if (dialect === 'mlx') expect(t.keepAliveComments).toBeGreaterThan(0);
          if (dialect !== 'mlx') expect(t.timeToRoleMs).toBeDefined();
        }
      } finally {
        await target.close();
      }
    },
  );
});
