import { describe, expect, it } from 'vitest';
import { parseFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/index.ts';
import { endpointObjectives } from '../slo/objectives.ts';
import { slosMet, summarizeStep } from './bench-summary.ts';
import type { BenchSample } from './load.ts';
import { readFileSync } from 'node:fs';

const fleet = parseFleet(
  readFileSync(new URL('../../examples/onex.fleet.yaml', import.meta.url), 'utf8'),
  'onex',
  {
    env: {},
  },
);
const coder = fleet.endpoints.find((e) => e.name === 'coder');
if (!coder) throw new Error('example fleet has no coder');
// coder: TTFT P95 2000 ms, P99 4000 ms; sustained 80 tok/s; burst 150 tok/s.
const objectives = endpointObjectives(coder);

function sample(r: Partial<RequestRecord>, lagMs?: number, gaps: number[] = []): BenchSample {
  const record: RequestRecord = {
    id: 'x',
    source: 'bench',
    operation: 'chat',
    route: 'coder',
    endpoint: 'coder',
    startedAtMs: 0,
    outcome: 'ok',
    status: 200,
    stream: true,
    attempts: [],
    totalMs: 3000,
    completionTokens: 100,
    ...r,
  };
  return {
    record,
    dispatchedMs: 0,
    scheduledMs: lagMs === undefined ? undefined : 0,
    lagMs,
    itlGapsMs: gaps,
  };
}

describe('summarizeStep', () => {
  const run = {
    durationMs: 2000,
    samples: [
      sample({ ttftMs: 1000, decodeTokensPerSecond: 100, burstTokensPerSecond: 200 }, 0.2, [10, 20]),
      sample({ ttftMs: 2500, decodeTokensPerSecond: 100, burstTokensPerSecond: 100 }, 0.5), // over P95 target
      sample({ ttftMs: 500, decodeTokensPerSecond: 50 }, 3), // under the sustained floor
      sample({ ttftMs: 100, decodeTokensPerSecond: 90, burstTokensPerSecond: 90 }, 0.1, [30]),
      sample({ outcome: 'upstream_error', status: 503, completionTokens: undefined }, 0.3),
    ],
  };
  const step = summarizeStep(run, objectives, {
    label: 'rate 2/s',
    mode: 'open',
    ratePerSecond: 2,
    burstiness: 1,
  });

  it('counts completions, errors by kind and rates over the step duration', () => {
    expect(step).toMatchObject({ requests: 5, completed: 4, errors: 1, errorKinds: { upstream_error: 1 } });
    expect(step.durationSeconds).toBe(2);
    expect(step.requestsPerSecond).toBe(2);
    expect(step.outputTokensPerSecond).toBe(200);
    expect(step.itlMs).toMatchObject({ count: 3, p50: 20 });
  });

  it('goodput: completed and within every per-request objective (burst excluded)', () => {
    expect(step.goodput).toEqual({ good: 2, share: 0.4, perSecond: 1 });
  });

  it('judges each objective on the share of good requests', () => {
    const byId = Object.fromEntries(step.objectives.map((o) => [o.id, o]));
    expect(byId['coder-ttft-p95']).toMatchObject({ share: 0.75, target: 0.95, judged: 4, met: false });
    expect(byId['coder-ttft-p99']).toMatchObject({ share: 1, met: true });
    expect(byId['coder-throughput-sustained']).toMatchObject({ share: 0.75, target: 0.5, met: true });
    expect(byId['coder-throughput-burst']).toMatchObject({ judged: 3, target: 0.05, met: true });
    expect(byId['coder-throughput-burst']?.share).toBeCloseTo(1 / 3, 10);
    expect(slosMet([step])).toBe(false);
  });

  it('reports the generator lag and warns above 1 ms', () => {
    expect(step.lagMs?.max).toBe(3);
    expect(step.lagWarning).toBe(true);
  });

  it('a step where nothing could be judged misses its objectives', () => {
    const empty = summarizeStep({ durationMs: 1, samples: [sample({ outcome: 'timeout' })] }, objectives, {
      label: 'c1',
      mode: 'closed',
      concurrency: 1,
    });
    expect(empty.objectives.every((o) => !o.met)).toBe(true);
    expect(empty.goodput.good).toBe(0);
    expect(empty.lagMs).toBeUndefined();
    expect(empty.lagWarning).toBe(false);
  });
});
