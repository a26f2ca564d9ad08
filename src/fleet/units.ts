// Values written the way people write them: `2000ms`, `5m`, `99.5%`, `64K`, `30%..50%`, `2..4`.
// Each parser returns the value or a message saying what was expected.

export type Parsed<T> = { ok: true; value: T } | { ok: false; expected: string };

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `2000ms`, `1.5s`, `5m`, `1h`, `7d`. A bare number is rejected: the unit must be written. */
export function parseDuration(input: unknown): Parsed<number> {
  const expected = 'a duration with its unit, e.g. 2000ms, 1.5s, 5m, 1h, 7d';
  if (typeof input !== 'string') return { ok: false, expected };
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$/.exec(input);
  if (!match) return { ok: false, expected };
  const unitMs = DURATION_UNITS_MS[match[2] as string] as number;
  return { ok: true, value: Number(match[1]) * unitMs };
}

/** `99.5%` → 0.995. Numbers between 0 and 1 are accepted as fractions. */
export function parsePercent(input: unknown): Parsed<number> {
  const expected = 'a percentage, e.g. 99.5%';
  if (typeof input === 'number' && input >= 0 && input <= 1) return { ok: true, value: input };
  if (typeof input !== 'string') return { ok: false, expected };
  const match = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(input);
  if (!match) return { ok: false, expected };
  const value = Number(match[1]) / 100;
  if (value > 1) return { ok: false, expected: 'a percentage between 0% and 100%' };
  return { ok: true, value };
}

/**
 * Context sizes: `64K` → 65536 (K = 1024, as servers configure `max_model_len`), or a plain
 * token count. `40000` stays 40000.
 */
export function parseTokenCount(input: unknown): Parsed<number> {
  const expected = 'a token count, e.g. 64K or 65536';
  if (typeof input === 'number' && Number.isInteger(input) && input > 0) return { ok: true, value: input };
  if (typeof input !== 'string') return { ok: false, expected };
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(input);
  if (!match) return { ok: false, expected };
  const scale = match[2] === '' ? 1 : match[2]!.toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  const value = Math.round(Number(match[1]) * scale);
  if (value <= 0) return { ok: false, expected };
  return { ok: true, value };
}

/** `30%..50%` or `2..4` or a single value; returns [min, max]. */
export function parseRange(input: unknown, item: (v: unknown) => Parsed<number>): Parsed<[number, number]> {
  if (typeof input === 'string' && input.includes('..')) {
    const [a, b] = input.split('..');
    const lo = item(coerceNumeric(a?.trim()));
    const hi = item(coerceNumeric(b?.trim()));
    if (!lo.ok) return lo;
    if (!hi.ok) return hi;
    if (lo.value > hi.value) return { ok: false, expected: 'a range written low..high' };
    return { ok: true, value: [lo.value, hi.value] };
  }
  const single = item(input);
  return single.ok ? { ok: true, value: [single.value, single.value] } : single;
}

function coerceNumeric(s: string | undefined): unknown {
  return s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Number(s) : s;
}

export function parsePositiveNumber(input: unknown): Parsed<number> {
  if (typeof input === 'number' && Number.isFinite(input) && input > 0) return { ok: true, value: input };
  return { ok: false, expected: 'a positive number' };
}

/** `09:00` → 540 minutes after midnight. `24:00` is allowed as an end of day. */
export function parseClock(input: unknown): Parsed<number> {
  const expected = 'a time of day as HH:MM, e.g. 09:00';
  if (typeof input !== 'string') return { ok: false, expected };
  const match = /^(\d{1,2}):(\d{2})$/.exec(input.trim());
  if (!match) return { ok: false, expected };
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (hours > 24 || minutes > 59 || (hours === 24 && minutes > 0)) return { ok: false, expected };
  return { ok: true, value: hours * 60 + minutes };
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export function parseDay(input: unknown): Parsed<number> {
  const expected = 'a day: mon, tue, wed, thu, fri, sat or sun';
  if (typeof input !== 'string') return { ok: false, expected };
  const index = DAY_NAMES.indexOf(input.trim().slice(0, 3).toLowerCase());
  return index < 0 ? { ok: false, expected } : { ok: true, value: index };
}

export function dayName(day: number): string {
  return DAY_NAMES[day] ?? '?';
}

/** Human rendering of a duration in ms, the inverse of parseDuration for whole units. */
export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms >= 86_400_000) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${Math.round(ms * 1000) / 1000}ms`;
}

export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100_000) / 1000}%`;
}

export function formatTokens(tokens: number): string {
  return tokens % 1024 === 0 ? `${tokens / 1024}K` : String(tokens);
}
