import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import {
  describeWindow,
  inWindow,
  localTime,
  startOfMonthMs,
  windowByName,
  windowMinutes,
  zoneOffsetMs,
} from './calendar.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const hours = windowByName(fleet, 'business-hours');
const at = (iso: string): number => Date.parse(iso);

describe('business hours in America/Los_Angeles (Mon–Fri 09:00–18:00)', () => {
  it.each([
    // Winter (PST, UTC−8): 09:00 local is 17:00Z.
    ['2026-03-06T16:59:00Z', false, 'Fri 08:59 PST'],
    ['2026-03-06T17:00:00Z', true, 'Fri 09:00 PST'],
    ['2026-03-07T01:59:00Z', true, 'Fri 17:59 PST'],
    ['2026-03-07T02:00:00Z', false, 'Fri 18:00 PST: closed'],
    ['2026-03-07T18:00:00Z', false, 'Saturday'],
    // Sunday 2026-03-08 02:00 the clocks jump to 03:00: Monday is PDT (UTC−7), 09:00 local is 16:00Z.
    ['2026-03-09T15:59:00Z', false, 'Mon 08:59 PDT'],
    ['2026-03-09T16:00:00Z', true, 'Mon 09:00 PDT'],
    ['2026-03-09T17:00:00Z', true, 'Mon 10:00 PDT (would be 09:00 in PST)'],
    ['2026-03-10T00:59:00Z', true, 'Mon 17:59 PDT'],
    ['2026-03-10T01:00:00Z', false, 'Mon 18:00 PDT'],
    // Back to PST on 2026-11-01: Monday 2026-11-02 opens at 17:00Z again.
    ['2026-11-02T16:00:00Z', false, 'Mon 08:00 PST'],
    ['2026-11-02T17:00:00Z', true, 'Mon 09:00 PST'],
  ])('%s → %s (%s)', (iso, expected) => {
    expect(inWindow(hours, at(iso))).toBe(expected);
  });

  it('`always` contains every instant', () => {
    const always = windowByName(fleet, 'always');
    expect(always.always).toBe(true);
    expect(inWindow(always, at('2026-03-08T10:00:00Z'))).toBe(true);
    expect(windowByName(fleet, 'no-such-window').name).toBe('always');
  });

  it('counts 5 × 9 h of open minutes in the week of the DST change, whatever the UTC offset', () => {
    // Sat 2026-03-07 00:00 PST … Sat 2026-03-14 00:00 PDT.
    expect(windowMinutes(hours, at('2026-03-07T08:00:00Z'), at('2026-03-14T08:00:00Z'))).toBe(5 * 9 * 60);
    expect(windowMinutes(windowByName(fleet, 'always'), 0, 3_600_000)).toBe(60);
  });

  it('describes the window', () => {
    expect(describeWindow(hours)).toBe('Mon–Fri 09:00–18:00 America/Los_Angeles');
    expect(describeWindow(windowByName(fleet, 'always'))).toBe('always');
  });
});

describe('zone arithmetic', () => {
  it('knows the offset on both sides of daylight saving', () => {
    expect(zoneOffsetMs('America/Los_Angeles', at('2026-01-15T12:00:00Z'))).toBe(-8 * 3_600_000);
    expect(zoneOffsetMs('America/Los_Angeles', at('2026-07-15T12:00:00Z'))).toBe(-7 * 3_600_000);
    expect(zoneOffsetMs('Asia/Kathmandu', at('2026-07-15T12:00:00Z'))).toBe(5.75 * 3_600_000);
  });

  it.each([
    ['America/Los_Angeles', '2026-11-15T12:00:00Z', '2026-11-01T07:00:00.000Z'], // Nov 1 midnight is still PDT
    ['America/Los_Angeles', '2026-03-20T12:00:00Z', '2026-03-01T08:00:00.000Z'], // Mar 1 is PST
    ['America/Los_Angeles', '2026-12-01T05:00:00Z', '2026-11-01T07:00:00.000Z'], // still Nov 30 in LA
    ['UTC', '2026-12-01T05:00:00Z', '2026-12-01T00:00:00.000Z'],
    ['Europe/Berlin', '2026-04-10T00:00:00Z', '2026-03-31T22:00:00.000Z'], // Apr 1 00:00 CEST
  ])('month in %s containing %s starts %s', (zone, iso, expected) => {
    expect(new Date(startOfMonthMs(zone, at(iso))).toISOString()).toBe(expected);
  });

  it('reads local wall-clock time', () => {
    expect(localTime('America/Los_Angeles', at('2026-03-09T16:30:00Z'))).toEqual({
      year: 2026,
      month: 3,
      day: 9,
      weekday: 1,
      minuteOfDay: 9 * 60 + 30,
    });
  });
});
