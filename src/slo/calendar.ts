// Availability windows in an IANA time zone: is this instant inside business hours, and where do
// calendar months begin there. Intl does the zone arithmetic (daylight saving included), so no
// tz database ships with llm-fleet. Pure: every instant is a parameter.
import type { BusinessHours, Fleet } from '../fleet/index.ts';

const MINUTE_MS = 60_000;

/** The window an availability objective names; `always` is built in. */
export function windowByName(fleet: Fleet, name: string | undefined): BusinessHours {
  const found = name === undefined ? undefined : fleet.windows.find((w) => w.name === name);
  return found ?? ALWAYS;
}

export const ALWAYS: BusinessHours = {
  name: 'always',
  days: [0, 1, 2, 3, 4, 5, 6],
  startMinute: 0,
  endMinute: 24 * 60,
  timeZone: 'UTC',
  always: true,
};

export interface LocalTime {
  readonly year: number;
  /** 1–12. */
  readonly month: number;
  readonly day: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  /** Minutes after local midnight. */
  readonly minuteOfDay: number;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock time in `timeZone` at the instant `atMs`. */
export function localTime(timeZone: string, atMs: number): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(atMs))) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? 0,
    minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/**
 * Whether `atMs` falls inside the window: a listed weekday and start ≤ local time < end, judged on
 * the local wall clock, so 09:00 in Los Angeles is 17:00 UTC in winter and 16:00 UTC in summer.
 */
export function inWindow(window: BusinessHours, atMs: number): boolean {
  if (window.always) return true;
  const t = localTime(window.timeZone, atMs);
  return (
    window.days.includes(t.weekday) && t.minuteOfDay >= window.startMinute && t.minuteOfDay < window.endMinute
  );
}

/** Offset of `timeZone` from UTC at `atMs`, in ms (Los Angeles in winter: −8 h). */
export function zoneOffsetMs(timeZone: string, atMs: number): number {
  const t = localTime(timeZone, atMs);
  const asUtc = Date.UTC(t.year, t.month - 1, t.day) + t.minuteOfDay * MINUTE_MS;
  return asUtc - Math.floor(atMs / MINUTE_MS) * MINUTE_MS;
}

/** The instant local midnight starts day 1 of the month containing `atMs` in `timeZone`. */
export function startOfMonthMs(timeZone: string, atMs: number): number {
  const t = localTime(timeZone, atMs);
  return localMidnightMs(timeZone, t.year, t.month, 1);
}

/** The instant of local midnight on the given date in `timeZone` (month 1–12). */
export function localMidnightMs(timeZone: string, year: number, month: number, day: number): number {
  const guess = Date.UTC(year, month - 1, day);
  // Two passes: the offset at the guess may differ from the offset at the answer across a DST change.
  let at = guess - zoneOffsetMs(timeZone, guess);
  at = guess - zoneOffsetMs(timeZone, at);
  return at;
}

/** Minutes of the window in [fromMs, toMs), counted minute by minute (for "hours in window" figures). */
export function windowMinutes(window: BusinessHours, fromMs: number, toMs: number): number {
  if (window.always) return Math.max(0, Math.floor((toMs - fromMs) / MINUTE_MS));
  let n = 0;
  for (let t = Math.ceil(fromMs / MINUTE_MS) * MINUTE_MS; t < toMs; t += MINUTE_MS)
    if (inWindow(window, t)) n++;
  return n;
}

/** `Mon–Fri 09:00–18:00 America/Los_Angeles`, or `always`. */
export function describeWindow(window: BusinessHours): string {
  if (window.always) return 'always';
  const names = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const days = [...window.days].sort((a, b) => a - b);
  const contiguous = days.every((d, i) => i === 0 || d === (days[i - 1] ?? -2) + 1);
  const dayText =
    contiguous && days.length > 2
      ? `${names[days[0] ?? 0]}–${names[days[days.length - 1] ?? 0]}`
      : days.map((d) => names[d]).join(',');
  return `${dayText} ${hhmm(window.startMinute)}–${hhmm(window.endMinute)} ${window.timeZone}`;
}

function hhmm(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}
