// Calibrate checks what it assumes, against simulator modes that break each assumption: a server
// that ignores ignore_eos / min_tokens (the model stops at 7 of 32 tokens), one that sends no usage
// and several tokens per event (with and without /tokenize), one whose tokenizer counts prompts
// 1.7× ours, and llama.cpp's slot state (/slots, --no-slots, /health counts in old builds).
import { afterEach, describe, expect, it } from 'vitest';
import { runCalibration, runNotes, summaryRows } from '../../src/calibrate/index.ts';
import type { CalibrationRun, EndpointCalibration } from '../../src/calibrate/index.ts';
import type { Endpoint, Fleet } from '../../src/fleet/index.ts';
import type { SimEndpointOptions, SimServer } from '../../src/sim/index.ts';
import { startSimEndpoint } from '../../src/sim/index.ts';
import { exampleFleet } from './helpers.ts';

let servers: SimServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const LATENCY = { prefillOverheadMs: 2, prefillMsPerToken: 0.01, decodeTokensPerSecond: 400 };
const SETTINGS = {
  warmupIterations: 1,
  iterations: 6,
  parallelHosts: false,
  promptTokens: 128,
  maxTokens: 32,
  networkOverheadMs: 1,
  networkOverheadSource: 'fleet' as const,
};

/** One example-fleet endpoint pointed at a simulator started with these options. */
async function calibrateAgainst(
  name: 'coder' | 'deepseek-r1' | 'small',
  sim: Partial<SimEndpointOptions>,
  settings: Partial<typeof SETTINGS> = {},
): Promise<{ run: CalibrationRun; e: EndpointCalibration; server: SimServer }> {
  const fleet: Fleet = exampleFleet();
  const template = fleet.endpoints.find((x) => x.name === name) as Endpoint;
  const server = await startSimEndpoint({
    dialect: template.dialect,
    model: template.servedModel,
    contextWindowTokens: template.contextWindowTokens,
    reasoning: false,
    latency: LATENCY,
    ...sim,
  });
  servers.push(server);
  const endpoint: Endpoint = { ...template, url: server.url, status: 'running', reasoning: false };
  const run = await runCalibration({ ...fleet, endpoints: [endpoint] }, [endpoint], {
    ...SETTINGS,
    ...settings,
  });
  const e = run.endpoints[0] as EndpointCalibration;
  expect(e.status).toBe('completed');
  return { run, e, server };
}

const measured = (e: EndpointCalibration) => e.samples.filter((s) => s.phase === 'measured');
const table = (run: CalibrationRun): string =>
  summaryRows(run)
    .map((r) => r.join(' | '))
    .join('\n');

describe('forced output length', () => {
  it('a server that ignores ignore_eos/min_tokens: flagged, no rate from 7-token answers, no floor, no "meets"', async () => {
    const { run, e } = await calibrateAgainst('coder', { ignoresForcedLength: true, naturalAnswerTokens: 7 });
    for (const s of measured(e)) {
      expect(s.completionTokens).toBe(7);
      expect(s.finishReason).toBe('stop');
      expect(s.outputForced).toBe(false);
      expect(s.decodeTokensPerSecond).toBeUndefined();
      expect(s.burstTokensPerSecond).toBeUndefined();
      expect(s.rateExcluded).toMatch(/7 tokens/);
    }
    expect(e.outputLengthForced).toBe(false);
    expect(e.output).toMatchObject({
      askedTokens: 32,
      forcedWith: ['ignore_eos', 'min_tokens'],
      shortAnswers: 6,
      excludedFromRates: 6,
      finishReasons: { stop: 6 },
    });
    expect(e.proposal?.burstTokensPerSecond).toBeUndefined();
    expect(e.proposal?.sustainedTokensPerSecond).toBeUndefined();
    expect(e.verdicts?.find((v) => v.metric === 'burst')?.verdict).toBe('unmeasured');
    expect(e.verdict).not.toBe('meets');
    expect(table(run)).toMatch(/NOT FORCED: 6\/6 short \(finish stop ×6\)/);
    expect(runNotes(run)).toMatch(/output not forced: 6 answers shorter than the 32 tokens asked/);
    expect(runNotes(run)).toMatch(/no throughput floor proposed/);
  });

  it('the same model on a server that honours them: 32 tokens, forced, rates and floors', async () => {
    const { e } = await calibrateAgainst('coder', { naturalAnswerTokens: 7 });
    expect(measured(e).every((s) => s.completionTokens === 32 && s.finishReason === 'length')).toBe(true);
    expect(e.outputLengthForced).toBe(true);
    expect(e.output?.shortAnswers).toBe(0);
    expect(e.proposal?.burstTokensPerSecond?.value).toBeGreaterThan(0);
  });
});

describe('tokens without usage', () => {
  it('no usage + 4 tokens per event, with /tokenize (vLLM): the server counts the text, rates use it', async () => {
    const { e } = await calibrateAgainst('coder', { sendsUsage: false, tokensPerChunk: 4 });
    expect(e.tokenSource).toBe('tokenize');
    for (const s of measured(e)) {
      expect(s.tokenSource).toBe('tokenize');
      expect(s.completionTokens).toBe(32); // 9 events: counting them would say 9
      expect(s.tokenTimesMs?.length).toBe(1 + Math.ceil(31 / 4));
      expect(s.promptTokenSource).toBe('tokenize');
    }
    // Decode rate from 32 tokens, not 9 events: near the simulated 400 tok/s, not ~110.
    expect(e.metrics?.decodeTokensPerSecond.p50).toBeGreaterThan(250);
    expect(e.proposal?.sustainedTokensPerSecond?.caveat).toBeUndefined();
  });

  it('no usage + 4 tokens per event, no /tokenize (mlx_lm): counted events, flagged estimated everywhere', async () => {
    const { run, e } = await calibrateAgainst(
      'small',
      { sendsUsage: false, tokensPerChunk: 4, naturalAnswerTokens: 200 },
      { maxTokens: 64 },
    );
    expect(e.tokenSource).toBe('chunks');
    expect(measured(e).every((s) => s.tokenSource === 'chunks' && s.completionTokens === 17)).toBe(true);
    expect(measured(e).every((s) => s.promptTokenSource === 'assumed')).toBe(true);
    expect(e.proposal?.sustainedTokensPerSecond?.caveat).toMatch(/estimated/);
    expect(e.proposal?.burstTokensPerSecond?.caveat).toMatch(/estimated/);
    expect(table(run)).toMatch(/decode tok\/s \(estimated\)/);
    expect(table(run)).toMatch(/\d+ \(estimated\)/);
    expect(runNotes(run)).toMatch(/no usage and no \/tokenize: tokens are counted events/);
  });
});

describe('prompt length', () => {
  it('a tokenizer that counts 1.7× ours: the prompt is sized with /tokenize and measured by usage', async () => {
    const { run, e } = await calibrateAgainst('coder', { promptTokenRatio: 1.7 }, { promptTokens: 256 });
    expect(e.prompt?.source).toBe('usage');
    expect(e.prompt?.sizedWithTokenize?.tokens).toBeGreaterThanOrEqual(254);
    expect(e.prompt?.sizedWithTokenize?.tokens).toBeLessThanOrEqual(258);
    expect(e.prompt?.measuredTokens).toBeGreaterThanOrEqual(250);
    expect(e.prompt?.measuredTokens).toBeLessThanOrEqual(262);
    expect(runNotes(run)).toMatch(
      /prompt: asked 256 tokens, measured 2\d\d \(usage\), sized with the server's \/tokenize/,
    );
  });

  it('the same tokenizer on a server without /tokenize (mlx_lm): not sized, the real count reported', async () => {
    const { run, e } = await calibrateAgainst(
      'small',
      { promptTokenRatio: 1.7, naturalAnswerTokens: 200, version: '0.31.3' },
      { promptTokens: 256 },
    );
    expect(e.prompt?.sizedWithTokenize).toBeUndefined();
    // One filler word per token assumed; the server counts 1.7× that (and its chat template).
    expect(e.prompt?.measuredTokens).toBeGreaterThan(256 * 1.6);
    expect(runNotes(run)).toMatch(/prompt: asked 256 tokens, measured 4\d\d \(usage\), not sized/);
  });
});

describe('server state per dialect', () => {
  it('llama.cpp b6715: /props slots, /slots before and after', async () => {
    const { run, e } = await calibrateAgainst('deepseek-r1', { latency: { ...LATENCY, maxNumSeqs: 3 } });
    expect(e.fingerprint?.totalSlots).toBe(3);
    expect(e.fingerprint?.before).toMatchObject({ slotsProcessing: 0, slotsTotal: 3, from: '/slots' });
    expect(e.fingerprint?.after).toMatchObject({ slotsProcessing: 0, slotsTotal: 3 });
    expect(runNotes(run)).toMatch(/3 slots, slots busy 0\/3→0\/3 \(\/slots\)/);
  });

  it('llama.cpp --no-slots: named as unavailable in the text', async () => {
    const { run, e } = await calibrateAgainst('deepseek-r1', { slotsEndpoint: false });
    expect(e.fingerprint?.unavailable).toContain('/slots (501)');
    expect(runNotes(run)).toMatch(/unavailable: \/slots \(501\), slot counts in \/health/);
  });

  it('llama.cpp b3000: slot counts from /health', async () => {
    const { e } = await calibrateAgainst('deepseek-r1', { version: 'b3000', slotsEndpoint: false });
    expect(e.fingerprint?.before).toMatchObject({ slotsProcessing: 0, from: '/health' });
  });
});
