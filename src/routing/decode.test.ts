import { describe, expect, it } from 'vitest';
import { parseFleet } from '../fleet/index.ts';
import { seededRandom } from '../calibrate/arrivals.ts';
import {
  predictDecode,
  priorDecodeModel,
  updateDecodeModel,
  PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE,
  type DecodeModel,
} from './decode.ts';

const Z95 = 1.6448536269514722;
const model: DecodeModel = {
  baseGapMs: 10,
  gapPerSequenceMs: 1,
  sigma: 0,
  logBias: 0,
  observations: 0,
  source: 'fleet-file',
};

describe('predictDecode', () => {
  it.each([
    // [others in flight, prefill share, σ, median tok/s]: decode gap = 10 + 1 × (others + 1) ms,
    // mean gap = decode gap / (1 − share), median = 1000 / mean gap (no offset learned yet)
    [0, 0, 0, 1000 / 11],
    [9, 0, 0, 50],
    [9, 0.2, 0, 40],
    [9, 0.99, 0, 5], // the share is capped at 0.9
    [9, 0, 0.4, 50],
  ] as const)('others=%i ρ=%f σ=%f → median %f tok/s', (others, share, sigma, median) => {
    const p = predictDecode({ ...model, sigma }, { othersInFlight: others, prefillShare: share });
    expect(p.medianTokensPerSecond).toBeCloseTo(median, 6);
    expect(p.p95TokensPerSecond / p.medianTokensPerSecond).toBeCloseTo(Math.exp(sigma * Z95), 6);
    expect(p.p05TokensPerSecond * p.p95TokensPerSecond).toBeCloseTo(p.medianTokensPerSecond ** 2, 6);
  });
});

/** Log-normal requests around the truth's median rate at L in flight, as the simulator draws them. */
function observe(
  truth: DecodeModel,
  m: DecodeModel,
  n: number,
  loads: (i: number) => number,
  rate?: number,
): DecodeModel {
  const rand = seededRandom(7);
  for (let i = 0; i < n; i++) {
    const inFlight = loads(i);
    const u1 = Math.max(rand(), Number.MIN_VALUE);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
    const median = predictDecode(truth, { othersInFlight: inFlight - 1 }).medianTokensPerSecond;
    m = updateDecodeModel(m, { tokensPerSecond: median * Math.exp(truth.sigma * z), inFlight }, rate);
  }
  return m;
}

describe('updateDecodeModel', () => {
  const truth: DecodeModel = { ...model, baseGapMs: 12, gapPerSequenceMs: 2, sigma: 0.4 };

  it('fits the gap per token against the load when loads vary, and the spread (consistent at a slow rate)', () => {
    const m = observe(truth, { ...model, sigma: 0.2 }, 6000, (i) => 1 + (i % 12), 0.005);
    expect(m.baseGapMs).toBeGreaterThan(12 * 0.85);
    expect(m.baseGapMs).toBeLessThan(12 * 1.15);
    expect(m.gapPerSequenceMs).toBeGreaterThan(2 * 0.85);
    expect(m.gapPerSequenceMs).toBeLessThan(2 * 1.15);
    expect(m.sigma).toBeGreaterThan(0.4 * 0.85);
    expect(m.sigma).toBeLessThan(0.4 * 1.15);
    // The median is right, not the mean: half of the truth's requests decode faster than predicted.
    const p = predictDecode(m, { othersInFlight: 5 }).medianTokensPerSecond;
    const t = predictDecode(truth, { othersInFlight: 5 }).medianTokensPerSecond;
    expect(p / t).toBeGreaterThan(0.92);
    expect(p / t).toBeLessThan(1.08);
  });

  it('at the default rate (~50 requests) predicts the median within the noise of that window', () => {
    const m = observe(truth, model, 400, (i) => 1 + (i % 12));
    for (const others of [0, 5, 11]) {
      const ratio =
        predictDecode(m, { othersInFlight: others }).medianTokensPerSecond /
        predictDecode(truth, { othersInFlight: others }).medianTokensPerSecond;
      expect(ratio).toBeGreaterThan(0.8);
      expect(ratio).toBeLessThan(1.25);
    }
  });

  it('at one load level only rescales the prior line', () => {
    const m = observe(truth, model, 400, () => 6);
    expect(m.gapPerSequenceMs / m.baseGapMs).toBeCloseTo(model.gapPerSequenceMs / model.baseGapMs, 9);
    const p = predictDecode(m, { othersInFlight: 5 }).medianTokensPerSecond;
    const t = predictDecode(truth, { othersInFlight: 5 }).medianTokensPerSecond;
    expect(p / t).toBeGreaterThan(0.9);
    expect(p / t).toBeLessThan(1.1);
  });

  it('divides the prefill share out of what it learns, and puts it back in what it predicts', () => {
    // The truth's rates at a 30% prefill share, taught with that share: the line is the decode part.
    const rand = seededRandom(3);
    let m = model;
    for (let i = 0; i < 2000; i++) {
      const inFlight = 1 + (i % 12);
      const prefillShare = rand() * 0.6;
      const median = predictDecode(truth, {
        othersInFlight: inFlight - 1,
        prefillShare,
      }).medianTokensPerSecond;
      const z = Math.sqrt(-2 * Math.log(Math.max(rand(), Number.MIN_VALUE))) * Math.cos(2 * Math.PI * rand());
      m = updateDecodeModel(
        m,
        { tokensPerSecond: median * Math.exp(truth.sigma * z), inFlight, prefillShare },
        0.01,
      );
    }
    for (const prefillShare of [0, 0.5]) {
      const ratio =
        predictDecode(m, { othersInFlight: 4, prefillShare }).medianTokensPerSecond /
        predictDecode(truth, { othersInFlight: 4, prefillShare }).medianTokensPerSecond;
      expect(ratio).toBeGreaterThan(0.9);
      expect(ratio).toBeLessThan(1.1);
    }
  });

  it('ignores observations without a rate', () => {
    expect(updateDecodeModel(model, { tokensPerSecond: 0, inFlight: 3 })).toBe(model);
    expect(updateDecodeModel(model, { tokensPerSecond: Number.NaN, inFlight: 3 })).toBe(model);
  });
});

describe('priorDecodeModel', () => {
  const fleet = parseFleet(
    `
version: 1
name: t
hosts: { h: { address: 127.0.0.1 } }
endpoints:
  a: { env: A_URL, host: h, port: 1, model: m, dialect: vllm, slo: { throughput: { sustained: 60, burst: 120 } } }
  b: { env: B_URL, host: h, port: 2, model: m, dialect: vllm }
routing: { rules: [{ task: code, endpoint: a }], default: a }
`,
    'decode.fleet.yaml',
  );
  const [a, b] = fleet.endpoints as [(typeof fleet.endpoints)[0], (typeof fleet.endpoints)[0]];

  it('reads the floor backwards (floor = measured / margin) and the spread from burst / sustained', () => {
    const m = priorDecodeModel(fleet, a);
    expect(m.source).toBe('fleet-file');
    expect(m.sigma).toBeCloseTo(Math.log(2) / Z95, 9);
    expect(predictDecode(m, { othersInFlight: 0 }).medianTokensPerSecond).toBeCloseTo(
      60 * fleet.calibration.safetyMargin,
      6,
    );
    expect(m.gapPerSequenceMs / m.baseGapMs).toBeCloseTo(PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE, 9);
  });

  it('takes a calibration run over the fleet file, and a default without either', () => {
    const c = priorDecodeModel(fleet, a, { promptTokens: 512, ttftP50Ms: 100, decodeTokensPerSecondP50: 90 });
    expect(c.source).toBe('calibration');
    expect(predictDecode(c, { othersInFlight: 0 }).medianTokensPerSecond).toBeCloseTo(90, 6);
    const d = priorDecodeModel(fleet, b);
    expect(d.source).toBe('default');
    expect(predictDecode(d, { othersInFlight: 0 }).medianTokensPerSecond).toBeCloseTo(50, 6);
  });
});
