import { describe, expect, it } from 'vitest';
import { loadBound, pickReplica, prefixKey, type ReplicaLoad } from './replicas.ts';

const pool = (...inFlight: number[]): ReplicaLoad[] =>
  inFlight.map((n, i) => ({ id: String(i), inFlight: n, available: true }));

describe('bounded-load consistent hashing across a replica pool', () => {
  const key = prefixKey([{ role: 'system', content: 'You are a careful code reviewer.' }], 1024) as string;

  it('a prefix has one home replica, whatever the draw', () => {
    const homes = new Set(
      [0, 0.3, 0.7, 0.99].map(
        (random) => pickReplica(pool(0, 0), { key, loadFactor: 1.25, random }).order[0],
      ),
    );
    expect(homes.size).toBe(1);
    expect(pickReplica(pool(0, 0), { key, loadFactor: 1.25, random: 0 }).reason).toBe('affinity');
  });

  it.each([
    // [prefill queued at home, elsewhere, shared prefix tokens, replica taken]
    [0, 0, 2000, 'home'],
    [2000, 0, 2000, 'home'], // the saving covers the prefill queued ahead: the hit is no slower
    [2500, 0, 2000, 'other'], // a hit behind 2,500 queued tokens loses to a miss on an idle server
    [6000, 3000, 2000, 'other'],
    [4000, 3000, 2000, 'home'],
    [2500, 0, undefined, 'home'], // without a saving to weigh, plain bounded load
  ] as const)('home queued %i, other %i, shared %s → %s', (homeQueued, otherQueued, shared, expected) => {
    const home = pickReplica(pool(0, 0), { key, loadFactor: 1.25, random: 0 }).order[0] as string;
    const loads = pool(1, 1).map((r) => ({
      ...r,
      prefillWaitingTokens: r.id === home ? homeQueued : otherQueued,
    }));
    const c = pickReplica(loads, { key, loadFactor: 1.25, random: 0, sharedPrefixTokens: shared });
    expect(c.order[0] === home ? 'home' : 'other').toBe(expected);
    expect(c.reason).toBe(expected === 'home' ? 'affinity' : 'load');
    expect(c.home).toBe(home);
  });

  it('different prefixes spread over the pool', () => {
    const homes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const k = prefixKey([{ role: 'system', content: `tenant ${i} system prompt` }], 1024);
      homes.add(pickReplica(pool(0, 0, 0), { key: k, loadFactor: 1.25, random: 0 }).order[0] as string);
    }
    expect(homes).toEqual(new Set(['0', '1', '2']));
  });

  it('the home keeps the prefix up to loadFactor × its share, then the next replica takes it', () => {
    const home = pickReplica(pool(0, 0), { key, loadFactor: 1.25, random: 0 }).order[0] as string;
    const other = home === '0' ? '1' : '0';
    const loads = (h: number, o: number): ReplicaLoad[] => (home === '0' ? pool(h, o) : pool(o, h));
    // 2 in flight at home, 1 elsewhere: bound ceil(1.25 × 4 / 2) = 3 — still home.
    expect(pickReplica(loads(2, 1), { key, loadFactor: 1.25, random: 0 })).toMatchObject({
      order: [home, other],
      reason: 'affinity',
      boundInFlight: 3,
    });
    // 4 at home, 1 elsewhere: bound ceil(1.25 × 6 / 2) = 4 — spill.
    expect(pickReplica(loads(4, 1), { key, loadFactor: 1.25, random: 0 })).toMatchObject({
      order: [other, home],
      reason: 'spill',
      home,
    });
    // A larger factor keeps it home longer.
    expect(pickReplica(loads(4, 1), { key, loadFactor: 2, random: 0 }).reason).toBe('affinity');
    expect(loadBound(5, 2, 1.25)).toBe(4);
  });

  it('an unavailable replica is never first; it stays last for the failover order', () => {
    const home = pickReplica(pool(0, 0), { key, loadFactor: 1.25, random: 0 }).order[0] as string;
    const replicas = pool(0, 0).map((r) => (r.id === home ? { ...r, available: false } : r));
    const choice = pickReplica(replicas, { key, loadFactor: 1.25, random: 0 });
    expect(choice.order).toEqual([home === '0' ? '1' : '0', home]);
    // Every replica down: still an order (the breaker decides), not an exception.
    expect(
      pickReplica(
        pool(0, 0).map((r) => ({ ...r, available: false })),
        { key, loadFactor: 1.25, random: 0 },
      ).order,
    ).toHaveLength(2);
  });

  it('without a prefix the least loaded takes it, ties by the draw', () => {
    expect(pickReplica(pool(3, 1, 2), { loadFactor: 1.25, random: 0.5 })).toEqual({
      order: ['1', '2', '0'],
      reason: 'load',
    });
    expect(pickReplica(pool(1, 1), { loadFactor: 1.25, random: 0 }).order[0]).toBe('0');
    expect(pickReplica(pool(1, 1), { loadFactor: 1.25, random: 0.9 }).order[0]).toBe('1');
    expect(pickReplica(pool(5), { loadFactor: 1.25, random: 0 })).toEqual({ order: ['0'], reason: 'only' });
  });
});

describe('the prefix key', () => {
  const system = { role: 'system', content: 'S'.repeat(2000) };
  it('a system prompt longer than the limit gives every conversation the same key', () => {
    expect(prefixKey([system, { role: 'user', content: 'a' }], 1024)).toBe(
      prefixKey([system, { role: 'user', content: 'b' }], 1024),
    );
  });
  it('a short system prompt lets the first user message tell conversations apart', () => {
    const short = { role: 'system', content: 'Be brief.' };
    expect(prefixKey([short, { role: 'user', content: 'a' }], 1024)).not.toBe(
      prefixKey([short, { role: 'user', content: 'b' }], 1024),
    );
  });
  it('reads text parts, and a plain prompt string; an empty prompt has no key', () => {
    expect(prefixKey([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], 64)).toBe(
      prefixKey([{ role: 'user', content: 'hi' }], 64),
    );
    expect(prefixKey('hello world', 5)).toBe(prefixKey('hello there', 5));
    expect(prefixKey([], 64)).toBeUndefined();
    expect(prefixKey(undefined, 64)).toBeUndefined();
  });
});
