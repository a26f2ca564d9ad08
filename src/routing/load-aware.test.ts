import { describe, expect, it } from 'vitest';
import { decideUnderLoad, type LoadCandidate, type LoadDecisionInput } from './load-aware.ts';

const p = (p95Ms: number, ratio = 1.5) => ({ medianMs: p95Ms / 1.6, p95Ms, p99Ms: p95Ms * ratio });
const target = { p95Ms: 800, p99Ms: 1500 };
const cand = (endpoint: string, p95Ms: number, extra: Partial<LoadCandidate> = {}): LoadCandidate => ({
  endpoint,
  tier: 'matrix',
  down: false,
  target,
  prediction: p(p95Ms),
  idle: p(300),
  inFlight: 3,
  saturated: false,
  ...extra,
});
// Decode predictions: median m tok/s, fast 5% at 2 × m; sustained floor 60.
const rate = (m: number) => ({
  medianTokensPerSecond: m,
  p05TokensPerSecond: m / 2,
  p95TokensPerSecond: 2 * m,
});
const floors = { sustainedTokensPerSecond: 60 };
const decoding = (m: number, idle = 80) => ({ decode: { prediction: rate(m), idle: rate(idle), floors } });
const input = (candidates: LoadCandidate[], extra: Partial<LoadDecisionInput> = {}): LoadDecisionInput => ({
  policy: 'slo',
  candidates,
  priority: 'interactive',
  headroom: 0.1,
  batchHeadroom: 0.3,
  tieBreak: 0,
  ...extra,
});

describe('decideUnderLoad', () => {
  const table: [string, LoadDecisionInput, string, string | undefined][] = [
    ['preferred keeps it while it has headroom', input([cand('a', 600), cand('b', 100)]), 'dispatch', 'a'],
    [
      'overflow to the next candidate with headroom',
      input([cand('a', 900), cand('b', 400)]),
      'dispatch',
      'b',
    ],
    [
      'P99 counts too',
      input([cand('a', 500, { prediction: { medianMs: 300, p95Ms: 500, p99Ms: 1400 } }), cand('b', 400)]),
      'dispatch',
      'b',
    ],
    [
      'batch needs more headroom',
      input([cand('a', 650), cand('b', 400)], { priority: 'batch' }),
      'dispatch',
      'b',
    ],
    ['interactive at the same load stays', input([cand('a', 650), cand('b', 400)]), 'dispatch', 'a'],
    [
      'none has headroom, load in flight: admission',
      input([cand('a', 900), cand('b', 1200)]),
      'no-headroom',
      undefined,
    ],
    [
      'none has headroom at idle: preferred anyway',
      input([cand('a', 900, { inFlight: 0 }), cand('b', 1200, { inFlight: 0 })]),
      'dispatch',
      'a',
    ],
    [
      'an idle preferred endpoint untried lately is tried again whatever its prediction',
      input([cand('a', 900, { inFlight: 0, untried: true }), cand('b', 400)]),
      'dispatch',
      'a',
    ],
    [
      'untried but busy: the prediction stands',
      input([cand('a', 900, { inFlight: 2, untried: true }), cand('b', 400)]),
      'dispatch',
      'b',
    ],
    [
      'a down candidate is never an overflow target',
      input([cand('a', 900), cand('b', 100, { down: true }), cand('c', 500)]),
      'dispatch',
      'c',
    ],
    [
      'matrix-named before beyond-the-matrix',
      input([cand('a', 900), cand('x', 100, { tier: 'beyond' }), cand('b', 700)]),
      'dispatch',
      'b',
    ],
    [
      'too large for the preferred target even idle: another that meets it takes it',
      input([cand('a', 4400, { idle: p(4400), inFlight: 0 }), cand('b', 100)]),
      'dispatch',
      'b',
    ],
    [
      'too large for every target even idle: the fastest, never the queue',
      input([cand('a', 4400, { idle: p(4000) }), cand('b', 3000, { idle: p(2500) })]),
      'dispatch',
      'b',
    ],
    ['a single candidate without headroom: its own queue decides', input([cand('a', 900)]), 'dispatch', 'a'],
    [
      'static: matrix order whatever the load',
      input([cand('a', 5000), cand('b', 100)], { policy: 'static' }),
      'dispatch',
      'a',
    ],
    [
      'least-busy: fewest in flight',
      input([cand('a', 100, { inFlight: 5 }), cand('b', 100, { inFlight: 2 })], { policy: 'least-busy' }),
      'dispatch',
      'b',
    ],
    [
      'no target: headroom while not saturated',
      input([cand('a', 0, { target: undefined, saturated: true }), cand('b', 0, { target: undefined })]),
      'dispatch',
      'b',
    ],
    [
      'decode counts too: the preferred one decoding under its floor overflows',
      input([cand('a', 300, decoding(62)), cand('b', 400, decoding(80))]),
      'dispatch',
      'b',
    ],
    [
      'decode with headroom (62 × 0.9 ≥ 55) keeps the preferred',
      input([
        cand('a', 300, { decode: { ...decoding(62).decode, floors: { sustainedTokensPerSecond: 55 } } }),
        cand('b', 400, decoding(80)),
      ]),
      'dispatch',
      'a',
    ],
    [
      'the burst figure is no per-request objective: a median far over the floor keeps the preferred',
      input([
        cand('a', 300, {
          decode: { prediction: rate(70), idle: rate(200), floors: { sustainedTokensPerSecond: 60 } },
        }),
        cand('b', 400, decoding(80)),
      ]),
      'dispatch',
      'a',
    ],
    [
      'a shortfall within the margin of the rate alone is the estimate’s noise, not load: it stays',
      input([cand('a', 300, decoding(64, 70)), cand('b', 400, decoding(80))]),
      'dispatch',
      'a',
    ],
    [
      'an overflow target needs decode headroom too',
      input([cand('a', 300, decoding(50)), cand('b', 100, decoding(60)), cand('c', 700, decoding(90))]),
      'dispatch',
      'c',
    ],
    [
      'every candidate decoding under its floor, load in flight: admission (another sequence would slow them all)',
      input([cand('a', 300, decoding(50)), cand('b', 100, decoding(58))]),
      'no-headroom',
      undefined,
    ],
    [
      'under the floor everywhere but nothing in flight to wait for: the preferred',
      input([
        cand('a', 300, { ...decoding(50), inFlight: 0 }),
        cand('b', 100, { ...decoding(58), inFlight: 0 }),
      ]),
      'dispatch',
      'a',
    ],
    [
      'short of decode and late everywhere with load in flight: admission',
      input([cand('a', 900, decoding(50)), cand('b', 1200, decoding(55))]),
      'no-headroom',
      undefined,
    ],
    [
      'a floor missed even alone is not load: the preferred keeps it (and its estimate gets corrected)',
      input([cand('a', 300, decoding(40, 40)), cand('b', 200, decoding(80))]),
      'dispatch',
      'a',
    ],
    [
      'decode floors alone (no TTFT target) are objectives too',
      input([
        cand('a', 0, { target: undefined, ...decoding(50) }),
        cand('b', 0, { target: undefined, ...decoding(90) }),
      ]),
      'dispatch',
      'b',
    ],
  ];
  it.each(table)('%s', (_name, given, action, first) => {
    const d = decideUnderLoad(given);
    expect(d.action).toBe(action);
    if (d.action === 'dispatch') {
      expect(d.order[0]).toBe(first);
      // The order is a permutation of the candidates: nothing added, nothing lost.
      expect([...d.order].sort()).toEqual(given.candidates.map((c) => c.endpoint).sort());
    }
  });

  it('names overflow, the prediction and the headroom in its reason', () => {
    const d = decideUnderLoad(input([cand('a', 900), cand('b', 400)]));
    expect(d.action === 'dispatch' && d.overflow).toBe(true);
    expect(d.reason).toMatch(
      /^overflow from a \(predicted P95 900ms of 800ms, headroom -2\d% \(ttft-p95\)\); b predicted P95 400ms of 800ms, headroom 40% \(ttft-p95\)/,
    );
  });

  it('names the decode prediction and the limiting objective', () => {
    const d = decideUnderLoad(input([cand('a', 300, decoding(62)), cand('b', 400, decoding(80))]));
    expect(d.action === 'dispatch' && d.reason).toMatch(
      /^overflow from a \(predicted P95 300ms of 800ms, decode 62 tok\/s \(floor 60\), headroom -7% \(sustained\)\); b .*decode 80 tok\/s \(floor 60\), headroom 40% \(ttft-p95\)/,
    );
  });

  it('breaks ties at random among near-equal candidates beyond the matrix, and among equally idle ones for least-busy', () => {
    const beyond = [
      cand('a', 900),
      cand('x', 300, { tier: 'beyond' }),
      cand('y', 320, { tier: 'beyond' }),
      cand('z', 700, { tier: 'beyond' }),
    ];
    const picks = [0, 0.49, 0.5, 0.99].map((t) => {
      const d = decideUnderLoad(input(beyond, { tieBreak: t }));
      return d.action === 'dispatch' ? d.order[0] : undefined;
    });
    expect(picks).toEqual(['x', 'x', 'y', 'y']);
    const idle = [cand('a', 1, { inFlight: 0 }), cand('b', 1, { inFlight: 0 })];
    const lb = [0, 0.7].map((t) => {
      const d = decideUnderLoad(input(idle, { policy: 'least-busy', tieBreak: t }));
      return d.action === 'dispatch' ? d.order[0] : undefined;
    });
    expect(lb).toEqual(['a', 'b']);
  });
});
