// How numbers and times read on the page. The browser's locale and time zone are used for times.

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

export function clock(ms: number): string {
  return time.format(ms);
}

const zoned = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

/** The page's clock, with its time zone (the SLO windows have their own; this one is the reader's). */
export function zonedClock(ms: number): string {
  return zoned.format(ms);
}

/** Time of day when today, date and time otherwise. */
export function when(ms: number, nowMs: number): string {
  return new Date(ms).toDateString() === new Date(nowMs).toDateString()
    ? time.format(ms)
    : dateTime.format(ms);
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 || m >= 10 ? `${m} min` : `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  return `${Math.round(h / 24)} d`;
}

export function percent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)}%`;
}

export function tokens(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024}K` : n.toLocaleString('en-US');
}

export function number(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);
}

/** A value in an objective's unit. */
export function inUnit(value: number, unit: string): string {
  if (unit === 'ms') return value >= 60_000 ? duration(value) : `${number(value)} ms`;
  if (unit === 'ratio') return percent(value, 2);
  return `${number(value)} ${unit}`;
}
