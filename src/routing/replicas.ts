// Choosing a replica within an endpoint's pool: bounded-load consistent hashing on the prompt's
// prefix, so requests sharing a system prompt keep landing on the replica whose prefix cache holds
// it, until that replica carries more than `loadFactor` × its share of the pool's load; then they
// spill to the next replica on the prefix's ring order. Without a prefix (embeddings, or affinity
// off) the least-loaded replica takes it, ties at random. Pure: loads and the random draw come in.
import type { ChatMessageLike } from './tokens.ts';

export interface ReplicaLoad {
  readonly id: string;
  /** Requests in flight on this replica (the gateway's own count, taken at dispatch). */
  readonly inFlight: number;
  /** False while its breaker is open or it refused connections lately: never chosen first. */
  readonly available: boolean;
  /** Prompt tokens dispatched to it and not yet prefilled (the ledger's): the prefill queued ahead. */
  readonly prefillWaitingTokens?: number;
}

export type ReplicaReason = 'affinity' | 'spill' | 'load' | 'only';

export interface ReplicaChoice {
  /** Replicas to try in order: the choice first, then the rest by load (available ones first). */
  readonly order: readonly string[];
  readonly reason: ReplicaReason;
  /** The replica the prefix hashes to, when there is a prefix. */
  readonly home?: string;
  /** The most requests a replica may carry and still take this prefix (bounded load). */
  readonly boundInFlight?: number;
}

export interface ReplicaPickOptions {
  /** The prompt's prefix key (`prefixKey`), or undefined for load-only balancing. */
  readonly key?: string;
  /** A replica keeps its prefixes while in flight + 1 ≤ ceil(loadFactor × (total + 1) / n). */
  readonly loadFactor: number;
  /** A draw in [0, 1) for ties among equally loaded replicas. */
  readonly random: number;
  /**
   * Prompt tokens the prefix's home would serve from its cache (the shared part of the prompt). With
   * it, the home keeps the request only while that saving outweighs the prefill queued ahead of it
   * there beyond what another replica has queued: a hit that waits behind another prompt's prefill
   * is slower than a miss on an idle server.
   */
  readonly sharedPrefixTokens?: number;
}

/**
 * The bound of consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018): a
 * replica may take one more request while its load would stay within ceil(c × (m + 1) / n), m the
 * pool's load before this request.
 */
export function loadBound(totalInFlight: number, replicas: number, loadFactor: number): number {
  return Math.ceil((loadFactor * (totalInFlight + 1)) / Math.max(1, replicas));
}

export function pickReplica(replicas: readonly ReplicaLoad[], opts: ReplicaPickOptions): ReplicaChoice {
  if (replicas.length === 0) throw new Error('a pool has at least one replica');
  if (replicas.length === 1) return { order: [(replicas[0] as ReplicaLoad).id], reason: 'only' };
  const usable = replicas.filter((r) => r.available);
  const pool = usable.length > 0 ? usable : replicas;
  const byLoad = (list: readonly ReplicaLoad[]): ReplicaLoad[] => {
    if (list.length === 0) return [];
    const min = Math.min(...list.map((r) => r.inFlight));
    const tied = list.filter((r) => r.inFlight === min);
    const first = tied[Math.min(tied.length - 1, Math.floor(opts.random * tied.length))] as ReplicaLoad;
    const rest = list.filter((r) => r !== first).sort((a, b) => a.inFlight - b.inFlight);
    return [first, ...rest];
  };
  const finish = (first: ReplicaLoad, reason: ReplicaReason, extra: Partial<ReplicaChoice> = {}) => {
    const rest = [...byLoad(pool.filter((r) => r !== first)), ...replicas.filter((r) => !pool.includes(r))];
    return { order: [first.id, ...rest.map((r) => r.id)], reason, ...extra };
  };
  if (opts.key === undefined) return finish(byLoad(pool)[0] as ReplicaLoad, 'load');

  // Rendezvous order: every replica scored by hash(key, id); the highest is the prefix's home.
  const ring = [...pool].sort((a, b) => score(opts.key as string, b.id) - score(opts.key as string, a.id));
  const home = ring[0] as ReplicaLoad;
  const total = pool.reduce((sum, r) => sum + r.inFlight, 0);
  const bound = loadBound(total, pool.length, opts.loadFactor);
  const taker = ring.find((r) => r.inFlight + 1 <= bound) ?? (byLoad(pool)[0] as ReplicaLoad);
  const extra = { home: home.id, boundInFlight: bound };
  if (taker === home && opts.sharedPrefixTokens !== undefined) {
    const queued = (r: ReplicaLoad): number => r.prefillWaitingTokens ?? 0;
    const others = pool.filter((r) => r !== home);
    const least = others.reduce<ReplicaLoad | undefined>(
      (best, r) => (best === undefined || queued(r) < queued(best) ? r : best),
      undefined,
    );
    if (least && queued(least) < queued(home) - opts.sharedPrefixTokens) return finish(least, 'load', extra);
  }
  return finish(taker, taker === home ? 'affinity' : 'spill', extra);
}

/**
 * The prefix that names a prompt's cache: the first `prefixChars` characters of its messages in
 * order (system prompt first), roles included, so a shared system prompt longer than the limit gives
 * every conversation the same key and a short one lets conversations spread. Undefined for an
 * empty prompt.
 */
export function prefixKey(
  prompt: readonly ChatMessageLike[] | string | undefined,
  prefixChars: number,
): string | undefined {
  if (prompt === undefined) return undefined;
  let text = '';
  if (typeof prompt === 'string') text = prompt.slice(0, prefixChars);
  else {
    for (const m of prompt) {
      if (text.length >= prefixChars) break;
      text += `${typeof m.role === 'string' ? m.role : ''}:${contentText(m.content)}\n`;
    }
    text = text.slice(0, prefixChars);
  }
  if (text.replace(/[\s:]/g, '') === '') return undefined;
  return fnv1a(text).toString(16);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((p) => (p && typeof p === 'object' && 'text' in p && typeof p.text === 'string' ? p.text : ''))
      .join('');
  return '';
}

function score(key: string, id: string): number {
  return fnv1a(`${key}\u0000${id}`);
}

/** 32-bit FNV-1a, mixed at the end so that keys differing in their last characters spread. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
