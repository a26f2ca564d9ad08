import { describe, expect, it } from 'vitest';
import { BucketIndex } from './bucket-index.ts';
import type { MinuteBucket } from './buckets.ts';
import { countsIn } from './burn-rate.ts';

const MIN = 60_000;
const b = (id: string, minute: number, good: number, total: number): MinuteBucket => ({
  endpoint: 'e',
  objectiveId: id,
  minuteStartMs: minute * MIN,
  good,
  total,
});

describe('BucketIndex', () => {
  // Unsorted, with a minute given twice (two store batches) and a second objective interleaved.
  const buckets = [
    b('a', 5, 1, 2),
    b('a', 1, 3, 3),
    b('b', 2, 0, 9),
    b('a', 5, 4, 4),
    b('a', 9, 0, 1),
    b('a', 3, 2, 2),
  ];
  const index = new BucketIndex(buckets);

  it.each([
    ['a', 0, 10, { good: 10, total: 12 }],
    ['a', 1, 2, { good: 3, total: 3 }],
    ['a', 2, 5, { good: 2, total: 2 }], // minute 5 excluded: [from, to)
    ['a', 5, 6, { good: 5, total: 6 }], // both batches of minute 5
    ['a', 10, 20, { good: 0, total: 0 }],
    ['a', 6, 5, { good: 0, total: 0 }],
    ['b', 0, 10, { good: 0, total: 9 }],
    ['c', 0, 10, { good: 0, total: 0 }],
  ])('%s over minutes [%s, %s) = %o, as the linear scan says', (id, from, to, expected) => {
    expect(index.counts(id, from * MIN, to * MIN)).toEqual(expected);
    expect(countsIn(buckets, id, from * MIN, to * MIN)).toEqual(expected);
    expect(countsIn(index, id, from * MIN, to * MIN)).toEqual(expected);
  });
});
