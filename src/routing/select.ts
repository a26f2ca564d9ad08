// The routing matrix as a pure function: task + token estimate + context fit + health → ordered
// candidates, each with the reason it is there. Agrees with the seed's select_llm_endpoint on every
// (task, token count) that fits, and goes beyond it: a request never goes where it does not fit,
// endpoints marked down are tried only after every healthy candidate, planned and deprecated endpoints are never chosen.
import type { Endpoint, Fleet, RoutingRule, Task } from '../fleet/index.ts';
import { servesModel, TASKS } from '../fleet/index.ts';

/** The reason of candidates the matrix does not name but that fit (load-aware overflow tries them last). */
export const BEYOND_THE_MATRIX = 'fits the request (beyond the matrix)';

/** Health as the router needs it (the probes' EndpointState). */
export type EndpointHealth = 'up' | 'down' | 'unknown';

export interface RouteRequest {
  /** A task (`code`, `classification`, `embedding`, `reasoning`, `lightweight`), an alias, or `auto`. */
  readonly task?: string;
  /** Estimated (or exact) prompt tokens. */
  readonly promptTokens: number;
  /** Completion budget; prompt + max tokens must fit the context window. */
  readonly maxTokens?: number;
  /** Endpoint health; endpoints that are `down` are skipped in favour of the next candidate. */
  readonly health?: ReadonlyMap<string, EndpointHealth>;
}

export interface Candidate {
  readonly endpoint: Endpoint;
  readonly reason: string;
}

export interface Skipped {
  readonly endpoint: string;
  readonly why: string;
}

export interface RouteDecision {
  /** The task routed for; `default` when no rule matched and the fleet's default was used. */
  readonly task: Task | 'default';
  readonly rule?: RoutingRule;
  /** Ordered: the first is where the request goes, the rest are fallbacks. Empty when nothing fits. */
  readonly candidates: readonly Candidate[];
  readonly skipped: readonly Skipped[];
  /** One line a person can read: why the first candidate, or why none. */
  readonly reason: string;
}

/** Task name or alias → task. `auto` and unknown names give undefined. */
export function resolveTask(fleet: Fleet, name: string | undefined): Task | undefined {
  if (name === undefined) return undefined;
  const key = name.trim().toLowerCase();
  if ((TASKS as readonly string[]).includes(key)) return key as Task;
  return fleet.routing.taskAliases[key];
}

function ruleMatches(rule: RoutingRule, task: Task, tokens: number): boolean {
  if (rule.task !== task) return false;
  if (rule.minTokensExclusive !== undefined && !(tokens > rule.minTokensExclusive)) return false;
  if (rule.maxTokensInclusive !== undefined && !(tokens <= rule.maxTokensInclusive)) return false;
  return true;
}

/**
 * Select endpoints for a request by task and token count.
 * The seed's matrix is matched on the prompt's token count (its "context"); context fit is then
 * checked on prompt + max tokens.
 */
export function selectEndpoint(fleet: Fleet, request: RouteRequest): RouteDecision {
  const task = resolveTask(fleet, request.task);
  if (request.task !== undefined && request.task !== 'auto' && task === undefined) {
    return {
      task: 'default',
      candidates: [],
      skipped: [],
      reason: `unknown task '${request.task}': use one of ${TASKS.join(', ')} or an alias (${Object.keys(fleet.routing.taskAliases).join(', ')})`,
    };
  }
  // `auto`: the seed's function treats anything that is not embedding or reasoning as generation;
  // `code` is the matrix's generation task, and it sends large contexts to the large window.
  const effectiveTask: Task = task ?? 'code';
  const tokens = request.promptTokens;
  const rule = fleet.routing.rules.find((r) => ruleMatches(r, effectiveTask, tokens));
  const kind = effectiveTask === 'embedding' ? 'embeddings' : 'chat';

  const order: { name: string; why: string }[] = [];
  if (rule) {
    order.push({ name: rule.endpoint, why: ruleReason(rule, tokens) });
    for (const f of rule.fallbacks) order.push({ name: f, why: `fallback of the ${rule.taskLabel} rule` });
  } else {
    order.push({
      name: fleet.routing.defaultEndpoint,
      why: `no routing rule for ${effectiveTask}; fleet default`,
    });
  }
  // Beyond the matrix: any other endpoint of the right kind that fits, largest window first, so a
  // request that outgrows every listed candidate still has somewhere to go.
  const extras = fleet.endpoints
    .filter((e) => e.kind === kind && !order.some((o) => o.name === e.name))
    .sort((a, b) => (b.contextWindowTokens ?? 0) - (a.contextWindowTokens ?? 0));
  for (const e of extras) order.push({ name: e.name, why: BEYOND_THE_MATRIX });

  return decide(fleet, effectiveTask, rule, order, request, kind);
}

/**
 * A request that names an endpoint or model directly: that endpoint first, then the fallbacks the
 * fleet file names for it. Nothing beyond those.
 */
export function routeToEndpoint(
  fleet: Fleet,
  nameOrModel: string,
  request: Omit<RouteRequest, 'task'>,
): RouteDecision {
  const target = fleet.endpoints.find(
    (e) =>
      e.name === nameOrModel ||
      servesModel(e, nameOrModel) ||
      e.model === nameOrModel ||
      e.env === nameOrModel,
  );
  if (!target) {
    const dead = fleet.deprecated.find((d) => d.env === nameOrModel);
    return {
      task: 'default',
      candidates: [],
      skipped: dead ? [{ endpoint: dead.env, why: dead.status }] : [],
      reason: dead
        ? `${dead.env} is decommissioned (${dead.status}); use ${dead.replacements.join(', ') || 'an endpoint of the inventory'}`
        : `no endpoint or model named '${nameOrModel}'`,
    };
  }
  const order = [
    { name: target.name, why: `requested by name (${nameOrModel})` },
    ...target.fallbacks.map((f) => ({ name: f, why: `fallback named by ${target.name}` })),
  ];
  return decide(fleet, 'default', undefined, order, request, target.kind);
}

function decide(
  fleet: Fleet,
  task: Task | 'default',
  rule: RoutingRule | undefined,
  order: readonly { name: string; why: string }[],
  request: Omit<RouteRequest, 'task'>,
  kind: Endpoint['kind'],
): RouteDecision {
  const needed = request.promptTokens + (request.maxTokens ?? 0);
  const candidates: Candidate[] = [];
  const down: Candidate[] = [];
  const skipped: Skipped[] = [];
  const deprecatedUrls = new Set(fleet.deprecated.map((d) => normalise(d.url)));
  for (const { name, why } of order) {
    const e = fleet.endpoints.find((x) => x.name === name);
    if (!e) {
      skipped.push({ endpoint: name, why: 'not in the inventory' });
      continue;
    }
    if (e.status === 'planned' || e.url === undefined) {
      skipped.push({ endpoint: name, why: `planned (${e.env} not set, port TBD)` });
      continue;
    }
    if (deprecatedUrls.has(normalise(e.url))) {
      skipped.push({ endpoint: name, why: 'its URL is a decommissioned endpoint' });
      continue;
    }
    if (e.kind !== kind) {
      skipped.push({ endpoint: name, why: `serves ${e.kind}, not ${kind}` });
      continue;
    }
    if (e.contextWindowTokens !== undefined && needed > e.contextWindowTokens) {
      skipped.push({
        endpoint: name,
        why: `does not fit: ${request.promptTokens} prompt + ${request.maxTokens ?? 0} max tokens = ${needed} > ${e.contextWindowTokens} window`,
      });
      continue;
    }
    const state = request.health?.get(name);
    if (state === 'down') {
      // Kept at the end: when everything is down, trying a down endpoint beats refusing outright.
      down.push({ endpoint: e, reason: `${why}; marked down` });
      skipped.push({ endpoint: name, why: 'marked down' });
      continue;
    }
    candidates.push({ endpoint: e, reason: why });
  }
  const all = [...candidates, ...down];
  const first = all[0];
  let reason: string;
  if (!first) {
    reason = `no endpoint can take this request (${skipped.map((s) => `${s.endpoint}: ${s.why}`).join('; ')})`;
  } else {
    const head = order[0]?.name;
    const detour =
      first.endpoint.name !== head
        ? ` instead of ${head} — ${skipped.find((s) => s.endpoint === head)?.why ?? 'unavailable'}`
        : '';
    reason = `${first.endpoint.name}: ${first.reason}${detour}`;
  }
  return { task, rule, candidates: all, skipped, reason };
}

/** The decision as plain data, the way `llm-fleet route --json` and the dashboard's /api/route show it. */
export interface DecisionSummary {
  readonly task: RouteDecision['task'];
  readonly url: string | null;
  readonly endpoint: string | null;
  readonly env: string | null;
  readonly reason: string;
  readonly fallbacks: readonly { endpoint: string; url: string | undefined; reason: string }[];
  readonly skipped: readonly Skipped[];
}

export function summarizeDecision(decision: RouteDecision): DecisionSummary {
  const first = decision.candidates[0];
  return {
    task: decision.task,
    url: first?.endpoint.url ?? null,
    endpoint: first?.endpoint.name ?? null,
    env: first?.endpoint.env ?? null,
    reason: decision.reason,
    fallbacks: decision.candidates
      .slice(1)
      .map((c) => ({ endpoint: c.endpoint.name, url: c.endpoint.url, reason: c.reason })),
    skipped: decision.skipped,
  };
}

function ruleReason(rule: RoutingRule, tokens: number): string {
  const cond = rule.tokenLabel === 'Any' ? 'any size' : `${tokens} tokens ${rule.tokenLabel}`;
  return `${rule.taskLabel}, ${cond} → ${rule.rationale || rule.endpoint}`;
}

function normalise(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    return url;
  }
}
