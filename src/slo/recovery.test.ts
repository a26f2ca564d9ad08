import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { Incident } from '../probes/types.ts';
import { judgeRecovery } from './recovery.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const coder = fleet.endpoints.find((e) => e.name === 'coder')!; // recovery 5 min
const MIN = 60_000;
const inc = (startMin: number, endMin?: number, endpoint = 'coder'): Incident => ({
  endpoint,
  startedAtMs: startMin * MIN,
  endedAtMs: endMin === undefined ? undefined : endMin * MIN,
  cause: 'connect_refused',
});

describe('recovery against the endpoint recovery SLO (coder: 5 minutes)', () => {
  const range = { sinceMs: 100 * MIN, nowMs: 200 * MIN };

  it.each([
    ['over in 4 min', inc(110, 114), 'within', 4 * MIN],
    ['over in exactly 5 min', inc(110, 115), 'within', 5 * MIN],
    ['over in 5 min 1 s', { ...inc(110), endedAtMs: 115 * MIN + 1000 }, 'exceeded', 5 * MIN + 1000],
    ['still open after 3 min', inc(197), 'open', 3 * MIN],
    ['still open after 6 min', inc(194), 'exceeded', 6 * MIN],
    ['started before the range, ended inside it', inc(90, 102), 'exceeded', 12 * MIN],
  ])('%s', (_name, incident, verdict, durationMs) => {
    const r = judgeRecovery(coder, [incident], range);
    expect(r.incidents.map((i) => [i.verdict, i.durationMs])).toEqual([[verdict, durationMs]]);
  });

  it('counts, finds the worst and ignores other endpoints and incidents outside the range', () => {
    const r = judgeRecovery(
      coder,
      [inc(150, 152), inc(120, 131), inc(10, 20), inc(160, 170, 'coder-fast'), inc(196), inc(201)],
      range,
    );
    expect({ count: r.count, within: r.within, exceeded: r.exceeded, open: r.open }).toEqual({
      count: 3,
      within: 1,
      exceeded: 1,
      open: 1,
    });
    expect(r.worst?.incident.startedAtMs).toBe(120 * MIN);
    expect(r.incidents.map((i) => i.incident.startedAtMs / MIN)).toEqual([120, 150, 196]);
  });
});
