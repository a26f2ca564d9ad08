// What `serve` tells its operator, one line each: every request (time, route, endpoint and its
// attempts, status, TTFT, tokens, duration, failure causes) and, as lines of their own, the
// retries, failovers, rescues and breaker transitions. Text for people, JSON (one object per
// line) for log shippers. Pure formatting: the caller writes the lines.
import type { GatewayEvent } from '../gateway/events.ts';
import type { RequestRecord } from '../measure/record.ts';

export const LOG_FORMATS = ['text', 'json', 'off'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

function ms(value: number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value >= 10_000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value)}ms`;
}

/** A value for `key=value` text: quoted when it holds spaces or quotes. */
function field(value: string): string {
  return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * The attempts as `endpoint:outcome` in order (`endpoint#replica:outcome` on a replica pool); a
 * continuation (rescue) is marked with `+`.
 */
function attemptsText(record: RequestRecord): string {
  return record.attempts
    .map(
      (a) =>
        `${a.continuation ? '+' : ''}${a.endpoint}${a.replica !== undefined ? `#${a.replica}` : ''}:${a.error ?? 'ok'}`,
    )
    .join(',');
}

function causes(record: RequestRecord): string[] {
  return [...new Set(record.attempts.flatMap((a) => (a.error ? [a.error] : [])))];
}

export function requestLine(record: RequestRecord, format: Exclude<LogFormat, 'off'>): string {
  const time = new Date(record.startedAtMs).toISOString();
  if (format === 'json') {
    return JSON.stringify({
      time,
      type: 'request',
      id: record.id,
      operation: record.operation,
      route: record.route,
      task: record.task,
      endpoint: record.endpoint,
      model: record.model,
      attempts: record.attempts.map((a) => ({
        endpoint: a.endpoint,
        replica: a.replica,
        status: a.status,
        error: a.error,
        durationMs: Math.round(a.durationMs),
        continuation: a.continuation,
      })),
      status: record.status,
      outcome: record.outcome,
      stream: record.stream,
      ttftMs: record.ttftMs === undefined ? undefined : Math.round(record.ttftMs),
      promptTokens: record.promptTokens,
      completionTokens: record.completionTokens,
      durationMs: Math.round(record.totalMs),
      causes: causes(record),
      error: record.errorMessage,
    });
  }
  const parts = [
    time,
    `req=${field(record.id)}`,
    record.operation,
    `route=${field(record.route)}`,
    `endpoint=${field(record.endpoint)}`,
    `attempts=${attemptsText(record) || '-'}`,
    `status=${record.status}`,
    `outcome=${record.outcome}`,
  ];
  const ttft = ms(record.ttftMs);
  if (ttft) parts.push(`ttft=${ttft}`);
  if (record.promptTokens !== undefined || record.completionTokens !== undefined)
    parts.push(`tokens=${record.promptTokens ?? '?'}+${record.completionTokens ?? '?'}`);
  parts.push(`dur=${ms(record.totalMs)}`);
  const why = causes(record);
  if (why.length > 0) parts.push(`causes=${why.join(',')}`);
  if (record.errorMessage) parts.push(`error=${field(record.errorMessage.slice(0, 300))}`);
  return parts.join(' ');
}

export function eventLine(event: GatewayEvent, atMs: number, format: Exclude<LogFormat, 'off'>): string {
  const time = new Date(atMs).toISOString();
  if (format === 'json') return JSON.stringify({ time, type: event.kind, ...event, kind: undefined });
  switch (event.kind) {
    case 'retry':
      return `${time} retry req=${field(event.requestId)} endpoint=${event.endpoint} cause=${event.cause} wait=${ms(event.waitMs)}`;
    case 'failover':
      return `${time} failover req=${field(event.requestId)} ${event.from} -> ${event.to} cause=${event.cause}`;
    case 'rescue':
      return `${time} rescue req=${field(event.requestId)} ${event.from} -> ${event.to} cause=${event.cause}`;
    case 'breaker':
      return `${time} breaker endpoint=${event.endpoint} ${event.from} -> ${event.to}`;
  }
}
