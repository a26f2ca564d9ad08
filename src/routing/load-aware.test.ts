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
      /^overflow from a \(predicted P95 900ms of 800ms, headroom -2\d%\); b predicted P95 400ms of 800ms, headroom 40%/,
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
