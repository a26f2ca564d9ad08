// The fault model: what can go wrong with an endpoint, how a fault is written (fleet file, CLI
// flag, `x-sim-fault` request header, POST /admin/faults) and which requests it hits (a fraction,
// or the first K after the fault was set).

export type FaultKind =
  /** Connection refused: the listener is closed (and existing connections dropped). */
  | 'down'
  /** Down for `downMs` at the end of every `periodMs` (reopens on the same port). */
  | 'flap'
  /** vLLM engine dead: /health 503 empty, requests 500 empty. */
  | 'dead'
  | 'http-500'
  | 'http-503'
  | 'http-429'
  /** TCP reset before any response header. */
  | 'reset'
  /** Accept and never answer. */
  | 'hang'
  /** Adds `delayMs` before the first token. */
  | 'slow-first-token'
  /** After `afterTokens` tokens the socket is destroyed: no terminator, no [DONE]. */
  | 'cut'
  /** After `afterTokens` tokens nothing more is written for `delayMs` (default: forever); socket stays open. */
  | 'stall'
  /** After `afterTokens` tokens one chunk of broken JSON is written; the stream then goes on. */
  | 'malformed'
  /**
   * After `afterTokens` tokens, the dialect's own mid-stream error: vLLM an error event then [DONE],
   * llama.cpp an error event without [DONE], mlx_lm a closed socket.
   */
  | 'midstream-error'
  /** The stream ends normally but without `data: [DONE]`. */
  | 'no-done'
  /** The dialect's context-length error (400; TEI 422). */
  | 'context-400'
  /** A content-policy rejection (400, code content_policy_violation) from a moderation layer. */
  | 'content-policy'
  /**
   * After `afterTokens` fast tokens, decode drops to `tokensPerSecond` (default 1). The rate is in
   * model time, so `latency.scale` shrinks it like every other model duration.
   */
  | 'slow-decode';

export const FAULT_KINDS: readonly FaultKind[] = [
  'down',
  'flap',
  'dead',
  'http-500',
  'http-503',
  'http-429',
  'reset',
  'hang',
  'slow-first-token',
  'cut',
  'stall',
  'malformed',
  'midstream-error',
  'no-done',
  'context-400',
  'content-policy',
  'slow-decode',
];

export interface FaultSpec {
  readonly kind: FaultKind;
  /** Share of requests hit, 0..1 (default 1). */
  readonly fraction?: number;
  /** Only the first K requests after the fault was set (counted among requests it could hit). */
  readonly firstRequests?: number;
  /** 500/503/429: the Retry-After header value. */
  readonly retryAfterSeconds?: number;
  readonly afterTokens?: number;
  /** slow-first-token, stall: wall-clock milliseconds (not scaled by `latency.scale`). */
  readonly delayMs?: number;
  readonly tokensPerSecond?: number;
  /** down: how long (then up again); flap: how long each outage lasts. */
  readonly downMs?: number;
  /** flap: length of one up+down cycle. */
  readonly periodMs?: number;
  /** 'all' also hits /health, /metrics and the other GET routes (default: inference requests only). */
  readonly scope?: 'inference' | 'all';
  /**
   * context-400: which overflow the server reports — `prompt` (default: the prompt alone is over
   * the window), `max-tokens` (prompt + max_tokens is), `over-window` (max_tokens alone is: vLLM's
   * "max_tokens=N cannot be greater than max_model_len"), `chars` (TEI's character-count check).
   */
  readonly form?: 'prompt' | 'max-tokens' | 'over-window' | 'chars';
}

/** Faults that are a state of the whole endpoint rather than of one request. */
export const ENDPOINT_FAULTS: ReadonlySet<FaultKind> = new Set(['down', 'flap', 'dead']);

const KEYS: Record<string, keyof FaultSpec> = {
  fraction: 'fraction',
  first: 'firstRequests',
  'retry-after': 'retryAfterSeconds',
  after: 'afterTokens',
  delay: 'delayMs',
  rate: 'tokensPerSecond',
  for: 'downMs',
  down: 'downMs',
  period: 'periodMs',
  every: 'periodMs',
  scope: 'scope',
  form: 'form',
};
const FORMS = ['prompt', 'max-tokens', 'over-window', 'chars'];
const DURATION_KEYS = new Set<keyof FaultSpec>(['delayMs', 'downMs', 'periodMs', 'retryAfterSeconds']);

/**
 * Parses `kind[:key=value,…]`, e.g. `503:retry-after=2,fraction=0.5`, `cut:after=20,first=3`,
 * `flap:down=5s,period=30s`, `slow-decode:after=1,rate=1`. `500`, `503`, `429` stand for http-5xx.
 * Durations take ms/s/m suffixes (bare numbers are ms; retry-after is in seconds).
 * Several faults are separated by `;`.
 */
export function parseFaults(text: string): FaultSpec[] {
  return text
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseFault);
}

export function parseFault(text: string): FaultSpec {
  const [head = '', rest = ''] = splitOnce(text.trim(), ':');
  const kind = normaliseKind(head.trim());
  const spec: Record<string, unknown> = { kind };
  for (const pair of rest.split(',').filter((p) => p.trim() !== '')) {
    const [rawKey = '', rawValue = ''] = splitOnce(pair, '=');
    const key = KEYS[rawKey.trim().toLowerCase()];
    if (key === undefined) throw new FaultSyntaxError(`unknown fault option '${rawKey.trim()}' in '${text}'`);
    const value = rawValue.trim();
    if (key === 'scope') {
      if (value !== 'all' && value !== 'inference')
        throw new FaultSyntaxError(`scope must be all or inference in '${text}'`);
      spec[key] = value;
    } else if (key === 'form') {
      if (!FORMS.includes(value))
        throw new FaultSyntaxError(`form must be one of ${FORMS.join(', ')} in '${text}'`);
      spec[key] = value;
    } else if (key === 'retryAfterSeconds') {
      spec[key] = parseNumber(value.replace(/s$/, ''), text);
    } else if (DURATION_KEYS.has(key)) {
      spec[key] = parseDurationMs(value, text);
    } else if (key === 'fraction') {
      const f = value.endsWith('%') ? parseNumber(value.slice(0, -1), text) / 100 : parseNumber(value, text);
      if (f < 0 || f > 1) throw new FaultSyntaxError(`fraction must be within 0..1 in '${text}'`);
      spec[key] = f;
    } else {
      spec[key] = parseNumber(value, text);
    }
  }
  return spec as unknown as FaultSpec;
}

export function formatFault(spec: FaultSpec): string {
  const opts: string[] = [];
  for (const [short, key] of Object.entries(KEYS)) {
    if (short === 'down' || short === 'every') continue;
    const v = spec[key];
    if (v !== undefined && key !== 'kind') opts.push(`${short}=${String(v)}`);
  }
  return opts.length ? `${spec.kind}:${opts.join(',')}` : spec.kind;
}

export class FaultSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultSyntaxError';
  }
}

function normaliseKind(head: string): FaultKind {
  const k = head.toLowerCase();
  const mapped = k === '500' || k === '503' || k === '429' ? `http-${k}` : k;
  if ((FAULT_KINDS as readonly string[]).includes(mapped)) return mapped as FaultKind;
  throw new FaultSyntaxError(`unknown fault '${head}' (one of ${FAULT_KINDS.join(', ')})`);
}

function splitOnce(text: string, sep: string): [string, string] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
}

function parseNumber(value: string, context: string): number {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n < 0)
    throw new FaultSyntaxError(`bad number '${value}' in '${context}'`);
  return n;
}

function parseDurationMs(value: string, context: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  if (!m) throw new FaultSyntaxError(`bad duration '${value}' in '${context}' (use e.g. 500ms, 5s, 2m)`);
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
}

/** Per-fault counters deciding which requests a fault hits; the random source is seeded. */
export class FaultPicker {
  private readonly seen = new Map<FaultSpec, number>();
  private readonly rand: () => number;
  private faults: readonly FaultSpec[] = [];

  constructor(rand: () => number) {
    this.rand = rand;
  }

  set(faults: readonly FaultSpec[]): void {
    this.faults = faults;
    this.seen.clear();
  }

  list(): readonly FaultSpec[] {
    return this.faults;
  }

  /** The request-level fault that hits this request, if any (the first listed that does). */
  pick(isInference: boolean, extra: readonly FaultSpec[] = []): FaultSpec | undefined {
    for (const f of [...extra, ...this.faults]) {
      if (ENDPOINT_FAULTS.has(f.kind)) continue;
      if (!isInference && f.scope !== 'all') continue;
      if (extra.includes(f)) return f;
      const n = this.seen.get(f) ?? 0;
      if (f.firstRequests !== undefined && n >= f.firstRequests) continue;
      this.seen.set(f, n + 1);
      if (f.fraction === undefined || f.fraction >= 1 || this.rand() < f.fraction) return f;
    }
    return undefined;
  }
}
