// Replica pools at the gateway: which server of an endpoint's pool an attempt goes to. The load is
// the gateway's own ledger keyed by endpoint and replica (`coder#1`, counted at dispatch like the
// endpoint's), availability is each replica's own breaker in the shared state (so --state redis
// shares it too), and the pick is routing/'s bounded-load consistent hashing on the prompt prefix.
// The endpoint stays one endpoint for routing and objectives; replicas only add where it is served.
import { Counter, Gauge, type Registry } from 'prom-client';
import { replicasOf, type Endpoint, type Fleet, type Replica } from '../fleet/index.ts';
import { estimateChatTokens, pickReplica, prefixKey, type ReplicaChoice } from '../routing/index.ts';
import type { ChatMessageLike } from '../routing/index.ts';
import type { BreakerView } from '../state/index.ts';
import { loadKey, type LoadLedger } from './load/ledger.ts';

export interface ReplicaDeps {
  readonly ledger: LoadLedger;
  breaker(key: string): BreakerView;
  readonly now: () => number;
  readonly random: () => number;
  /**
   * Whether the probes found a replica down (only with a probe-backed health view: one fed by
   * traffic alone would never see it come back). A down replica is tried after the others.
   */
  readonly replicaDown?: (endpoint: string, replica: string) => boolean;
  /**
   * Requests in flight per replica as the load view sees them (the ledger raised by each server's
   * own engine metrics while fresh: other clients' requests count too). Default: the ledger alone.
   */
  readonly replicaLoads?: (endpoint: Endpoint) => ReadonlyMap<string, number> | undefined;
}

export interface ReplicaPlan {
  readonly replicas: readonly Replica[];
  readonly choice: ReplicaChoice;
}

/** The prompt a request's prefix key is read from (chat messages, or a completion's prompt). */
export type PromptForAffinity = readonly ChatMessageLike[] | string | undefined;

/**
 * The part of a chat prompt other requests share and the home's cache would hold: every message but
 * the last (the system prompt and the conversation so far). A bare prompt string: none known.
 */
function sharedPrefixTokens(prompt: PromptForAffinity): number | undefined {
  if (!Array.isArray(prompt) || prompt.length < 2) return undefined;
  return estimateChatTokens(prompt.slice(0, -1));
}

/**
 * The order to try an endpoint's replicas in for one attempt: the bounded-load pick first, then the
 * rest by load; replicas this request already failed on go last. Undefined for a pool of one.
 */
export function planReplicas(
  deps: ReplicaDeps,
  endpoint: Endpoint,
  prompt: PromptForAffinity,
  failedHere: ReadonlySet<string> = new Set(),
): ReplicaPlan | undefined {
  const replicas = replicasOf(endpoint);
  if (replicas.length < 2) return undefined;
  const nowMs = deps.now();
  const affinity = endpoint.affinity;
  const key =
    affinity === false || affinity === undefined || endpoint.kind !== 'chat'
      ? undefined
      : prefixKey(prompt, affinity.prefixChars);
  const loads = deps.replicaLoads?.(endpoint);
  const choice = pickReplica(
    replicas.map((r) => {
      const breaker = deps.breaker(loadKey(endpoint.name, r.id));
      const counts = deps.ledger.counts(loadKey(endpoint.name, r.id));
      return {
        id: r.id,
        inFlight: loads?.get(r.id) ?? counts.inFlight,
        prefillWaitingTokens: counts.prefillWaitingTokens,
        available:
          !failedHere.has(r.id) &&
          deps.replicaDown?.(endpoint.name, r.id) !== true &&
          breaker.snapshot(nowMs).state !== 'open' &&
          breaker.waitMs(nowMs) === 0,
      };
    }),
    {
      key,
      loadFactor: affinity ? affinity.loadFactor : 1,
      random: deps.random(),
      sharedPrefixTokens: key === undefined ? undefined : sharedPrefixTokens(prompt),
    },
  );
  const last = choice.order.filter((id) => failedHere.has(id));
  return {
    replicas,
    choice: { ...choice, order: [...choice.order.filter((id) => !failedHere.has(id)), ...last] },
  };
}

/** Whether another replica of the pool could still take the request (its breaker lets it try). */
export function otherReplicaAvailable(
  deps: ReplicaDeps,
  endpoint: Endpoint,
  failedHere: ReadonlySet<string>,
): boolean {
  const nowMs = deps.now();
  return replicasOf(endpoint).some((r) => {
    if (failedHere.has(r.id)) return false;
    const b = deps.breaker(loadKey(endpoint.name, r.id));
    return b.snapshot(nowMs).state !== 'open';
  });
}

export interface ReplicaMetrics {
  attempt(endpoint: string, replica: string, result: string): void;
  choice(endpoint: string, replica: string, reason: string): void;
}

/** Per-replica metrics, beside the endpoint's (whose objectives are still judged per endpoint). */
export function registerReplicaMetrics(registry: Registry, fleet: Fleet, deps: ReplicaDeps): ReplicaMetrics {
  const pools = (): Array<[Endpoint, Replica]> =>
    fleet.endpoints.flatMap((e) => {
      const list = replicasOf(e);
      return list.length < 2 ? [] : list.map((r): [Endpoint, Replica] => [e, r]);
    });
  const attempts = new Counter({
    name: 'llm_fleet_replica_attempts_total',
    help: 'Upstream attempts per replica of a pool, by result (ok or an error cause)',
    labelNames: ['endpoint', 'replica', 'result'],
    registers: [registry],
  });
  const choices = new Counter({
    name: 'llm_fleet_replica_choices_total',
    help: 'Replica picks per pool: affinity (the prefix stayed home), spill (home above its load bound), load (no prefix)',
    labelNames: ['endpoint', 'replica', 'reason'],
    registers: [registry],
  });
  new Gauge({
    name: 'llm_fleet_replica_in_flight',
    help: "Requests in flight per replica (the gateway ledger, counted at dispatch, raised by the replica's own engine metrics while fresh)",
    labelNames: ['endpoint', 'replica', 'url'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [e, r] of pools())
        this.set(
          { endpoint: e.name, replica: r.id, url: r.url },
          deps.replicaLoads?.(e)?.get(r.id) ?? deps.ledger.counts(loadKey(e.name, r.id)).inFlight,
        );
    },
  });
  new Gauge({
    name: 'llm_fleet_replica_up',
    help: "1 while the replica's breaker lets traffic through and the probes find it up, 0 while either says no",
    labelNames: ['endpoint', 'replica', 'url'],
    registers: [registry],
    collect() {
      this.reset();
      const nowMs = deps.now();
      for (const [e, r] of pools())
        this.set(
          { endpoint: e.name, replica: r.id, url: r.url },
          deps.breaker(loadKey(e.name, r.id)).snapshot(nowMs).state === 'open' ||
            deps.replicaDown?.(e.name, r.id) === true
            ? 0
            : 1,
        );
    },
  });
  return {
    attempt: (endpoint, replica, result) => attempts.inc({ endpoint, replica, result }),
    choice: (endpoint, replica, reason) => choices.inc({ endpoint, replica, reason }),
  };
}
