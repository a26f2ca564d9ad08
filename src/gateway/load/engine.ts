// The engines' own account of their load, scraped from what each server really exposes:
// vLLM `/metrics` (vllm:num_requests_running, vllm:num_requests_waiting, vllm:kv_cache_usage_perc),
// llama.cpp `/metrics` (llamacpp:requests_processing, llamacpp:requests_deferred; needs --metrics)
// and `/props` total_slots. mlx_lm and TEI (on its main port) expose nothing: the ledger alone.
//
// Staleness policy: a reading is used while younger than `staleAfterMs`; after that, and after a
// failed scrape, the endpoint is judged by the gateway's ledger alone and marked stale — a failed
// scrape never reads as an idle server (engine figures only ever raise the ledger's, never lower them).
import type { Endpoint } from '../../fleet/index.ts';
import { Agent, request, type Dispatcher } from 'undici';
import { upstreamAuthHeaders } from '../../upstream/auth.ts';
import { guardedConnector } from '../../upstream/guard.ts';

/** The scraper's own connections (loopback guard included), apart from the request pools. */
export function scrapeDispatcher(env: NodeJS.ProcessEnv, timeoutMs: number): Agent {
  return new Agent({
    connect: guardedConnector({ timeout: timeoutMs }, env),
    connections: 2,
    keepAliveTimeout: 10_000,
  });
}

export interface EngineReading {
  readonly running: number;
  readonly waiting: number;
  readonly kvCacheUsage?: number;
  /** Sequence slots (llama.cpp total_slots). */
  readonly slots?: number;
  readonly atMs: number;
}

export interface EngineState {
  /** The last good reading (may be stale). */
  readonly reading?: EngineReading;
  readonly lastAttemptMs?: number;
  readonly lastError?: string;
  readonly consecutiveFailures: number;
  /** This gateway's count of ended requests when the reading was taken. */
  readonly endedAtReading?: number;
}

/** Which engines have load metrics worth scraping. */
export function scrapes(endpoint: Endpoint): boolean {
  return endpoint.dialect === 'vllm' || endpoint.dialect === 'llamacpp';
}

const GAUGES = {
  vllm: {
    running: 'vllm:num_requests_running',
    waiting: 'vllm:num_requests_waiting',
    kv: 'vllm:kv_cache_usage_perc',
  },
  llamacpp: {
    running: 'llamacpp:requests_processing',
    waiting: 'llamacpp:requests_deferred',
    kv: undefined,
  },
} as const;

/** Sum of a gauge's samples in Prometheus text (all label sets: one per model on vLLM). */
export function gaugeValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  let at = text.indexOf(name);
  while (at >= 0) {
    const lineStart = at === 0 || text[at - 1] === '\n';
    const next = text[at + name.length];
    if (lineStart && (next === ' ' || next === '{')) {
      const end = text.indexOf('\n', at);
      const line = text.slice(at, end < 0 ? text.length : end);
      const value = Number(
        line
          .slice(line.lastIndexOf(line.includes('}') ? '}' : ' ') + 1)
          .trim()
          .split(' ')[0],
      );
      if (Number.isFinite(value)) sum = (sum ?? 0) + value;
    }
    at = text.indexOf(name, at + name.length);
  }
  return sum;
}

export function parseEngineMetrics(
  dialect: 'vllm' | 'llamacpp',
  text: string,
  atMs: number,
): Omit<EngineReading, 'slots'> | undefined {
  const g = GAUGES[dialect];
  const running = gaugeValue(text, g.running);
  const waiting = gaugeValue(text, g.waiting);
  if (running === undefined || waiting === undefined) return undefined;
  const kv = g.kv ? gaugeValue(text, g.kv) : undefined;
  return { running, waiting, kvCacheUsage: kv, atMs };
}

async function get(pools: Dispatcher, endpoint: Endpoint, path: string, timeoutMs: number): Promise<string> {
  const base = new URL(endpoint.url ?? 'http://invalid');
  const prefix = base.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  const res = await request(`${base.origin}${prefix}${path}`, {
    method: 'GET',
    // llama.cpp guards /metrics and /props with its --api-key.
    headers: upstreamAuthHeaders(endpoint),
    dispatcher: pools,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}`);
  return text;
}

/** Scrape one endpoint once. Throws with a message that says what failed. */
export async function scrapeEngine(
  pools: Dispatcher,
  endpoint: Endpoint,
  nowMs: () => number,
  knownSlots: number | undefined,
  timeoutMs: number,
): Promise<EngineReading> {
  const dialect = endpoint.dialect as 'vllm' | 'llamacpp';
  const text = await get(pools, endpoint, '/metrics', timeoutMs);
  const parsed = parseEngineMetrics(dialect, text, nowMs());
  if (!parsed) throw new Error(`GET /metrics: no ${GAUGES[dialect].running} / ${GAUGES[dialect].waiting}`);
  let slots = knownSlots;
  if (dialect === 'llamacpp' && slots === undefined) {
    try {
      const props = JSON.parse(await get(pools, endpoint, '/props', timeoutMs)) as { total_slots?: unknown };
      if (typeof props.total_slots === 'number' && props.total_slots > 0) slots = props.total_slots;
    } catch {
      // Slots stay unknown; the ledger and the deferred count still say when it queues.
    }
  }
  return { ...parsed, slots };
}
