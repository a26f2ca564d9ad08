import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadFleet, parseFleet } from '../fleet/index.ts';
import { createHealthState } from './state.ts';
import type { HealthChange } from './types.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });

function feed(
  state: ReturnType<typeof createHealthState>,
  endpoint: string,
  pattern: string,
  startMs = 0,
  stepMs = 15_000,
) {
  [...pattern].forEach((c, i) =>
    state.observe({
      endpoint,
      ok: c === '+',
      atMs: startMs + i * stepMs,
      source: 'probe',
      cause: c === '-' ? 'connect_refused' : undefined,
    }),
  );
}

describe('createHealthState', () => {
  it('does not flap on one lost probe (N=2 failures to go down)', () => {
    const state = createHealthState(fleet);
    const changes: HealthChange[] = [];
    state.subscribe((c) => changes.push(c));
    feed(state, 'coder', '++-+-+-++-+');
    expect(state.state('coder')).toBe('up');
    expect(changes.map((c) => c.to)).toEqual(['up']);
    expect(state.incidents()).toEqual([]);
  });

  it('goes down after N consecutive failures and up after M successes; the incident spans first failure to first success', () => {
    const state = createHealthState(fleet, { downAfter: 2, upAfter: 2 });
    feed(state, 'coder', '++---+-++');
    // index: 0 + 1 + 2 - 3 - 4 - 5 + 6 - 7 + 8 +
    expect(state.state('coder')).toBe('up');
    expect(state.incidents()).toEqual([
      { endpoint: 'coder', startedAtMs: 2 * 15_000, endedAtMs: 7 * 15_000, cause: 'connect_refused' },
    ]);
  });

  it('one success is not enough to come back (M=2)', () => {
    const state = createHealthState(fleet);
    feed(state, 'coder-fast', '+--+');
    expect(state.state('coder-fast')).toBe('down');
    expect(state.degradedHosts()).toEqual(['gpu-server']);
    expect(state.downForMs('coder-fast', 10 * 15_000)).toBe(9 * 15_000);
  });

  it('traffic and probes feed the same counters', () => {
    const state = createHealthState(fleet);
    state.observe({ endpoint: 'embeddings', ok: true, atMs: 0, source: 'probe' });
    state.observe({ endpoint: 'embeddings', ok: false, atMs: 1, source: 'traffic', cause: 'http_503' });
    state.observe({ endpoint: 'embeddings', ok: false, atMs: 2, source: 'probe', cause: 'timeout' });
    expect(state.state('embeddings')).toBe('down');
    expect(state.openIncident('embeddings')).toMatchObject({ startedAtMs: 1, cause: 'http_503' });
  });

  it('planned endpoints are never down', () => {
    const state = createHealthState(fleet);
    feed(state, 'small', '-----');
    expect(state.state('small')).toBe('unknown');
    expect(state.degradedHosts()).toEqual([]);
  });

  it('resumes an open incident restored from the store and closes it on recovery', () => {
    const state = createHealthState(fleet, {
      restore: [
        { endpoint: 'coder', startedAtMs: 1000, endedAtMs: 2000, cause: 'timeout' },
        { endpoint: 'deepseek-r1', startedAtMs: 5000, cause: 'loading' },
      ],
    });
    expect(state.state('deepseek-r1')).toBe('down');
    expect(state.state('coder')).toBe('unknown');
    const closed: unknown[] = [];
    state.onIncident((i) => closed.push(i));
    feed(state, 'deepseek-r1', '++', 9000, 1000);
    expect(state.state('deepseek-r1')).toBe('up');
    expect(closed).toEqual([
      { endpoint: 'deepseek-r1', startedAtMs: 5000, endedAtMs: 9000, cause: 'loading' },
    ]);
    expect(state.incidents()).toHaveLength(2);
  });

  it('a throwing listener does not stop the state machine', () => {
    const state = createHealthState(fleet);
    state.subscribe(() => {
      throw new Error('boom');
    });
    feed(state, 'coder', '+--');
    expect(state.state('coder')).toBe('down');
  });
});

describe('createHealthState on a replica pool', () => {
  const text = readFileSync('examples/onex.fleet.yaml', 'utf8').replace(
    '    port: 8001\n',
    '    port: 8001\n    replicas: [http://192.168.86.202:8001]\n',
  );
  const pool = parseFleet(text, 'pool.fleet.yaml', { env: {} });
  const see = (
    state: ReturnType<typeof createHealthState>,
    replica: string | undefined,
    pattern: string,
    startMs: number,
  ) =>
    [...pattern].forEach((c, i) =>
      state.observe({
        endpoint: 'coder-fast',
        ...(replica !== undefined ? { replica } : {}),
        ok: c === '+',
        atMs: startMs + i * 15_000,
        source: 'probe',
        cause: c === '-' ? 'connect_refused' : undefined,
      }),
    );

  it('one replica down is its own incident; the endpoint stays up', () => {
    const state = createHealthState(pool);
    const changes: HealthChange[] = [];
    state.subscribe((c) => changes.push(c));
    see(state, '0', '++++', 0);
    see(state, '1', '+--+', 0);
    expect(state.state('coder-fast')).toBe('up');
    expect(Object.fromEntries(state.replicaStates('coder-fast'))).toEqual({ '0': 'up', '1': 'down' });
    expect(state.incidents()).toEqual([
      { endpoint: 'coder-fast', replica: '1', startedAtMs: 15_000, cause: 'connect_refused' },
    ]);
    expect(state.openIncident('coder-fast')).toBeUndefined();
    expect(state.degradedHosts()).toEqual([]);
    expect(changes.filter((c) => c.replica === undefined).map((c) => c.to)).toEqual(['up']);
    expect(changes.filter((c) => c.replica === '1').map((c) => c.to)).toEqual(['up', 'down']);
    // An endpoint of one server has no replica states.
    expect(state.replicaStates('coder').size).toBe(0);
  });

  it('the pool down: the endpoint incident runs from when the last replica failed to when the first came back', () => {
    const state = createHealthState(pool, { downAfter: 2, upAfter: 2 });
    see(state, '0', '+---------', 0); // fails from 15 s
    see(state, '1', '+++-----++', 0); // fails from 45 s, back at 120 s (up after its second success)
    expect(state.incidents()).toEqual([
      { endpoint: 'coder-fast', replica: '0', startedAtMs: 15_000, cause: 'connect_refused' },
      {
        endpoint: 'coder-fast',
        replica: '1',
        startedAtMs: 45_000,
        endedAtMs: 120_000,
        cause: 'connect_refused',
      },
      { endpoint: 'coder-fast', startedAtMs: 45_000, endedAtMs: 120_000, cause: 'connect_refused' },
    ]);
    expect(state.state('coder-fast')).toBe('up');
  });

  it('an observation naming no replica counts for each; a restored pool outage needs each replica back on its own', () => {
    const state = createHealthState(pool);
    see(state, undefined, '+--', 0);
    expect(Object.fromEntries(state.replicaStates('coder-fast'))).toEqual({ '0': 'down', '1': 'down' });
    expect(state.state('coder-fast')).toBe('down');

    const restored = createHealthState(pool, {
      restore: [{ endpoint: 'coder-fast', startedAtMs: 5_000, cause: 'timeout' }],
    });
    expect(restored.state('coder-fast')).toBe('down');
    see(restored, '0', '+', 60_000);
    expect(restored.state('coder-fast')).toBe('down');
    see(restored, '0', '+', 75_000);
    expect(restored.state('coder-fast')).toBe('up');
    expect(restored.incidents()).toEqual([
      { endpoint: 'coder-fast', startedAtMs: 5_000, endedAtMs: 60_000, cause: 'timeout' },
    ]);
    expect(restored.replicaStates('coder-fast').get('1')).toBe('down');
  });
});
