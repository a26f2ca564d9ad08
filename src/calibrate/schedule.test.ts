import { describe, expect, it } from 'vitest';
import { planLanes } from './schedule.ts';

const eps = [
  { name: 'coder', host: 'gpu' },
  { name: 'embeddings', host: 'mac' },
  { name: 'coder-fast', host: 'gpu' },
  { name: 'r1', host: 'mac' },
  { name: 'small', host: 'air' },
];

describe('planLanes', () => {
  it('without parallel hosts: one lane, the given order', () => {
    expect(planLanes(eps, false).map((l) => l.map((e) => e.name))).toEqual([
      ['coder', 'embeddings', 'coder-fast', 'r1', 'small'],
    ]);
  });

  it('with parallel hosts: one lane per host, so two endpoints of a host never run together', () => {
    expect(planLanes(eps, true).map((l) => l.map((e) => e.name))).toEqual([
      ['coder', 'coder-fast'],
      ['embeddings', 'r1'],
      ['small'],
    ]);
  });

  it('no endpoints, no lanes', () => {
    expect(planLanes([], true)).toEqual([]);
    expect(planLanes([], false)).toEqual([]);
  });
});
