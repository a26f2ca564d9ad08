import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import { judgeRecord, objectivesFor } from './objectives.ts';
import { record as sloRecord } from './test-data.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const objectives = objectivesFor(fleet);
const byId = (id: string) => objectives.find((o) => o.id === id)!;

/** A coder-fast chat request at t = 0, with only what a case sets. */
function record(over: Partial<RequestRecord>): RequestRecord {
  return sloRecord({ endpoint: 'coder-fast', startedAtMs: 0, ...over });
}

describe('objectives from the example fleet', () => {
  it('has one ratio objective per seed target, with stable ids', () => {
    expect(
      objectives.filter((o) => o.endpoint === 'coder').map((o) => [o.id, o.target, o.threshold]),
    ).toEqual([
      ['coder-ttft-p95', 0.95, 2000],
      ['coder-ttft-p99', 0.99, 4000],
      ['coder-throughput-sustained', 0.5, 80],
      ['coder-throughput-burst', 0.05, 150],
      ['coder-availability', 0.99, undefined],
      ['coder-recovery', 1, 300_000],
    ]);
    expect(objectives.filter((o) => o.endpoint === 'small')).toEqual([]);
  });
});

describe('judgeRecord', () => {
  it('judges TTFT against the threshold, inclusive', () => {
    expect(judgeRecord(byId('coder-fast-ttft-p95'), record({ ttftMs: 800 }))).toBe('good');
    expect(judgeRecord(byId('coder-fast-ttft-p95'), record({ ttftMs: 800.1 }))).toBe('bad');
  });

  it('leaves errors to availability and other endpoints to their own objectives', () => {
    expect(judgeRecord(byId('coder-fast-ttft-p95'), record({ ttftMs: 10, outcome: 'upstream_error' }))).toBe(
      'invalid',
    );
    expect(judgeRecord(byId('coder-ttft-p95'), record({ ttftMs: 10 }))).toBe('invalid');
  });

  it('judges decode and burst rates against their floors', () => {
    expect(judgeRecord(byId('coder-fast-throughput-sustained'), record({ decodeTokensPerSecond: 60 }))).toBe(
      'good',
    );
    expect(judgeRecord(byId('coder-fast-throughput-burst'), record({ burstTokensPerSecond: 119 }))).toBe(
      'bad',
    );
  });

  it('counts embeddings requests only at the batch size the targets are stated for (32)', () => {
    const emb = (inputCount: number, ttftMs: number) =>
      record({ endpoint: 'embeddings', operation: 'embeddings', inputCount, ttftMs });
    expect(byId('embeddings-ttft-p95').batchSize).toBe(32);
    expect(judgeRecord(byId('embeddings-ttft-p95'), emb(1, 5))).toBe('invalid');
    expect(judgeRecord(byId('embeddings-ttft-p95'), emb(32, 150))).toBe('good');
    // The rate is judged in aggregate (inputs per busy second over the range), never per request.
    expect(byId('embeddings-embeddings-rate').judgedAs).toBe('aggregate');
    expect(judgeRecord(byId('embeddings-embeddings-rate'), emb(32, 6.4))).toBe('invalid');
  });
});
