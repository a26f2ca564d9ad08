// The JSON the page (and the tests) read: one method per view, from the deps and the clock.
// Verdicts come from the SLO module's `evaluateFleet` — the function `llm-fleet check` prints — over
// the store's per-minute buckets; the store aggregates series; the browser only lays them out.
import type { Endpoint, Fleet, RoutingRule } from '../fleet/index.ts';
import type { Incident } from '../probes/types.ts';
import type { EndpointHealth, RouteDecision } from '../routing/index.ts';
import { selectEndpoint, summarizeDecision } from '../routing/index.ts';
import type { FleetVerdict, MinuteBucket, ObjectiveVerdict } from '../slo/index.ts';
import {
  BURN_RATE_WINDOWS_MS,
  evaluateFleet,
  judgeRecovery,
  reportedObjectivesFor,
  startOfMonthMs,
  windowByName,
} from '../slo/index.ts';
import { evaluationData } from '../store/index.ts';
import { businessHourIntervals } from './business-hours.ts';
import type { Interval } from './business-hours.ts';
import type { DashboardDeps, PartialStore, SeriesPoint, SeriesQuery, WindowName } from './deps.ts';
import { isFleetStore } from './deps.ts';
import { DEFAULT_WINDOW, WINDOWS, windowQuery } from './window.ts';

/** Availability figures need the rolling 30 days and the calendar month whatever window the page shows. */
const AVAILABILITY_LOOKBACK_MS = 32 * 24 * 3_600_000;

export type CardState = 'up' | 'down' | 'degraded' | 'planned' | 'unknown';

/** One objective as the page shows it: target beside measured, in `check --json`'s own terms. */
export interface ObjectiveView {
  readonly id: string;
  readonly kind: string;
  readonly description: string;
  /** Required share of good events (0.95), availability target (0.99), 1 for recovery. */
  readonly target: number;
  /** ms, tokens/s or embeddings/s after environment adjustments; recovery: the allowed ms. */
  readonly threshold?: number;
  readonly unit: string;
  readonly good: number;
  readonly total: number;
  /** good / total over the window; undefined without events. */
  readonly ratio?: number;
  /** The value the target names (P95 TTFT, median tok/s, worst recovery ms), when known. */
  readonly value?: number;
  readonly budgetRemaining?: number;
  /** Burn rate per window of the exported alert rules (5m … 3d), and the alert those rules would fire now. */
  readonly burn?: {
    readonly windows: readonly { readonly windowMs: number; readonly burnRate?: number }[];
    /** Each exported alert (page-quick 14.4× over 5m and 1h, …) and whether it would fire now. */
    readonly alerts: readonly {
      readonly name: string;
      readonly severity: string;
      readonly factor: number;
      readonly shortWindowMs: number;
      readonly longWindowMs: number;
      readonly firing: boolean;
    }[];
    readonly firing: 'page' | 'ticket' | 'none';
  };
  /** Aggregate-rate objectives (embeddings/s): units over busy time, and the rate alert's windows. */
  readonly aggregate?: {
    readonly units: number;
    readonly busyMs: number;
    readonly ratePerSecond?: number;
    readonly windows: readonly { readonly windowMs: number; readonly ratePerSecond?: number }[];
    readonly firing: boolean;
  };
  readonly verdict: ObjectiveVerdict['verdict'];
  readonly reason: string;
  readonly performance: boolean;
  /** Availability: the window's description and the calendar-month / rolling-30-day figures. */
  readonly availability?: {
    readonly window: string;
    readonly calendarMonth?: number;
    readonly rolling30Days?: number;
  };
}

export interface TriggerView {
  readonly kind: string;
  readonly evidence: string;
  readonly atMs: number;
}

export interface EndpointCard {
  readonly name: string;
  readonly env: string;
  readonly host: { readonly name: string; readonly address: string; readonly description: string };
  readonly hardware?: string;
  readonly port?: number;
  /** Effective URL, when an env var overrides host:port (the demo's simulators, a moved server). */
  readonly url?: string;
  readonly urlFromEnv: boolean;
  /** A replica pool's servers with each one's probe state (absent for an endpoint of one server). */
  readonly replicas?: readonly { readonly id: string; readonly url: string; readonly state: string }[];
  readonly model: string;
  readonly kind: string;
  readonly dialect: string;
  readonly contextWindowTokens?: number;
  readonly notes?: string;
  readonly state: CardState;
  /** Down: when the open incident started, and why. */
  readonly sinceMs?: number;
  readonly cause?: string;
  readonly objectives: readonly ObjectiveView[];
  readonly triggers: readonly TriggerView[];
  /** Requests and errors over the selected window (requests count where they were answered). */
  readonly requests: number;
  readonly errors: number;
  /**
   * Attempts that failed on this endpoint and went on to a fallback, by cause (see
   * FleetSummary.failovers for the span): an endpoint in outage shows its errors here, though
   * its traffic was answered elsewhere.
   */
  readonly failedAttempts?: readonly { readonly cause: string; readonly count: number }[];
}

export interface DeprecatedCard {
  readonly env: string;
  readonly url: string;
  readonly status: string;
  readonly replacements: readonly string[];
  readonly note?: string;
}

export interface Overview {
  readonly fleet: { readonly name: string; readonly environment: string; readonly lastUpdated?: string };
  readonly window: WindowName;
  readonly range: SeriesQuery;
  readonly sinceMs: number;
  readonly nowMs: number;
  readonly breach: boolean;
  readonly endpoints: readonly EndpointCard[];
  readonly deprecated: readonly DeprecatedCard[];
  readonly summary: FleetSummary;
}

/** The fleet header: what an SRE reads first. */
export interface FleetSummary {
  readonly endpoints: Readonly<Record<'up' | 'degraded' | 'down' | 'unknown' | 'planned', number>>;
  readonly objectives: Readonly<Record<'met' | 'atRisk' | 'breached' | 'notEnoughData' | 'noData', number>>;
  /** The highest 1-hour burn rate of any judged objective. */
  readonly worstBurn?: { readonly objective: string; readonly burnRate: number; readonly windowMs: number };
  readonly openIncidents: readonly {
    readonly endpoint: string;
    readonly cause: string;
    readonly sinceMs: number;
  }[];
  /** Failed attempts the gateway moved past, from the records of [fromMs, now]. */
  readonly failovers: FailoverSummary;
  /** The smallest window that holds all stored data (a fresh demo is not squashed into 24 h). */
  readonly suggestedWindow: WindowName;
}

export interface FailoverSummary {
  readonly fromMs: number;
  /** Per endpoint that failed and cause, most first. */
  readonly counts: readonly { readonly endpoint: string; readonly cause: string; readonly count: number }[];
  /** Streams continued on another endpoint after a cut (stream rescue). */
  readonly rescues: number;
  /** The newest requests that needed a failover, newest first. */
  readonly last: readonly {
    readonly atMs: number;
    readonly route: string;
    readonly outcome: string;
    readonly path: string;
    readonly cause: string;
    readonly from: string;
    readonly to: string;
  }[];
}

/** Failovers are read from raw records over at most this span (the page's longer windows say so). */
const FAILOVER_SPAN_MS = 6 * 3_600_000;

export interface IncidentView extends Incident {
  readonly durationMs: number;
  readonly recoveryMs?: number;
  /** `open`: still running and not yet past the recovery SLO. */
  readonly verdict: 'within' | 'exceeded' | 'open';
}

export interface EndpointDetail {
  readonly card: EndpointCard;
  readonly window: WindowName;
  readonly range: SeriesQuery;
  readonly nowMs: number;
  readonly targets: {
    readonly ttftP95Ms?: number;
    readonly ttftP99Ms?: number;
    readonly sustainedTokensPerSecond?: number;
    readonly burstTokensPerSecond?: number;
  };
  readonly series: readonly SeriesPoint[];
  readonly availability: {
    readonly window: string;
    readonly timeZone?: string;
    readonly businessHours: readonly Interval[];
    readonly incidents: readonly IncidentView[];
  };
  readonly calibrationRuns: readonly CalibrationRunView[];
  readonly routingRules: readonly RuleForEndpoint[];
  /** Attempts that failed on this endpoint and went on (markers on the charts), at most the last 6 h. */
  readonly failovers: readonly { readonly atMs: number; readonly cause: string; readonly to: string }[];
  /**
   * Error budget left over time per judged objective: at each step, 1 − bad / allowed bad of the
   * events from the window's start to that step (null before the first event; ≤ 0 spent).
   */
  readonly budget: readonly {
    readonly objective: string;
    readonly label: string;
    readonly points: readonly (number | null)[];
  }[];
  /** The step starts the budget points belong to. */
  readonly budgetAtMs: readonly number[];
}

export interface CalibrationRunView {
  readonly atMs: number;
  readonly iterations: number;
  readonly measured: Readonly<Record<string, number>>;
  readonly proposed: Readonly<Record<string, number>>;
  readonly note?: string;
}

export interface RoutingRuleView {
  readonly task: string;
  readonly taskLabel: string;
  readonly tokenLabel: string;
  readonly endpoint: string;
  readonly env?: string;
  readonly fallbacks: readonly string[];
  readonly rationale: string;
}

export interface RuleForEndpoint extends RoutingRuleView {
  readonly role: 'primary' | 'fallback';
}

export interface RoutingView {
  readonly rules: readonly RoutingRuleView[];
  readonly defaultEndpoint: string;
  readonly aliases: Readonly<Record<string, string>>;
}

/** The fields `llm-fleet route --json` prints, plus the live health the decision used. */
export interface RouteAnswer {
  readonly task: string;
  readonly url: string | null;
  readonly endpoint: string | null;
  readonly env: string | null;
  readonly reason: string;
  readonly fallbacks: readonly { endpoint: string; url: string | undefined; reason: string }[];
  readonly skipped: RouteDecision['skipped'];
  readonly health: Readonly<Record<string, EndpointHealth>>;
}

export class Views {
  readonly #deps: DashboardDeps;
  readonly #now: () => number;
  /** The last verdict per window (see #verdict). */
  readonly #unsubscribe: (() => void) | undefined;
  readonly #cache = new Map<string, { atMs: number; verdict: Promise<FleetVerdict> }>();

  constructor(deps: DashboardDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#unsubscribe = deps.health?.subscribe(() => this.#cache.clear());
  }

  close(): void {
    this.#unsubscribe?.();
  }

  nowMs(): number {
    return this.#now();
  }

  async overview(window: WindowName): Promise<Overview> {
    const { fleet } = this.#deps;
    const nowMs = this.#now();
    const range = windowQuery(window, nowMs);
    const sinceMs = nowMs - (range.toMs - range.fromMs);
    const verdict = await this.#verdict(window, sinceMs, nowMs);
    const failovers = await this.#failovers(Math.max(range.fromMs, nowMs - FAILOVER_SPAN_MS), nowMs);
    const endpoints = await Promise.all(fleet.endpoints.map((e) => this.#card(e, verdict, range, failovers)));
    const summary = await this.#summary(endpoints, failovers, nowMs);
    return {
      fleet: {
        name: fleet.name,
        environment: fleet.environment,
        ...(fleet.lastUpdated === undefined ? {} : { lastUpdated: fleet.lastUpdated }),
      },
      window,
      range,
      sinceMs: verdict.sinceMs,
      nowMs,
      breach: verdict.breach,
      endpoints,
      deprecated: fleet.deprecated.map((d) => ({
        env: d.env,
        url: d.url,
        status: d.status,
        replacements: d.replacements,
        ...(d.note === undefined ? {} : { note: d.note }),
      })),
      summary,
    };
  }

  async #summary(
    cards: readonly EndpointCard[],
    failovers: FailoverSummary,
    nowMs: number,
  ): Promise<FleetSummary> {
    const endpoints = { up: 0, degraded: 0, down: 0, unknown: 0, planned: 0 };
    for (const c of cards) endpoints[c.state]++;
    const objectives = { met: 0, atRisk: 0, breached: 0, notEnoughData: 0, noData: 0 };
    let worstBurn: FleetSummary['worstBurn'];
    for (const o of cards.flatMap((c) => c.objectives)) {
      if (o.verdict === 'best-effort') continue;
      if (o.verdict === 'breach' || (o.verdict === 'ci-skip' && o.ratio !== undefined && o.ratio < o.target))
        objectives.breached++;
      else if (o.verdict === 'not-enough-data') objectives.notEnoughData++;
      else if (o.verdict === 'no-data') objectives.noData++;
      else if ((o.burn && o.burn.firing !== 'none') || o.aggregate?.firing) objectives.atRisk++;
      else objectives.met++;
      const hour = o.burn?.windows.find((w) => w.windowMs === 3_600_000)?.burnRate;
      if (hour !== undefined && (worstBurn === undefined || hour > worstBurn.burnRate))
        worstBurn = { objective: o.id, burnRate: hour, windowMs: 3_600_000 };
    }
    const openIncidents = (await this.#incidents({ fromMs: nowMs - 30 * 86_400_000, toMs: nowMs }))
      .filter((i) => i.endedAtMs === undefined)
      .map((i) => ({ endpoint: i.endpoint, cause: i.cause, sinceMs: i.startedAtMs }));
    return {
      endpoints,
      objectives,
      ...(worstBurn ? { worstBurn } : {}),
      openIncidents,
      failovers,
      suggestedWindow: await this.#suggestedWindow(nowMs),
    };
  }

  async #suggestedWindow(nowMs: number): Promise<WindowName> {
    const store = this.#deps.store;
    if (!store || !isFleetStore(store)) return DEFAULT_WINDOW;
    const [first] = await store.records(
      { fromMs: nowMs - WINDOWS['30d'].lengthMs, toMs: nowMs + 1 },
      undefined,
      1,
    );
    if (!first) return DEFAULT_WINDOW;
    const age = nowMs - first.startedAtMs;
    const fits = (Object.keys(WINDOWS) as WindowName[]).find((w) => WINDOWS[w].lengthMs >= age);
    return fits ?? '30d';
  }

  /** Failed attempts in the records of [fromMs, toMs]: per endpoint and cause, rescues, the newest few. */
  async #failovers(fromMs: number, toMs: number): Promise<FailoverSummary> {
    const store = this.#deps.store;
    const empty = { fromMs, counts: [], rescues: 0, last: [] };
    if (!store || !isFleetStore(store)) return empty;
    const records = await store.records({ fromMs, toMs: toMs + 1 }, undefined, 20_000);
    const counts = new Map<string, { endpoint: string; cause: string; count: number }>();
    let rescues = 0;
    const last: FailoverSummary['last'][number][] = [];
    for (const r of records) {
      const failed = r.attempts.filter((a) => a.error);
      if (failed.length === 0) continue;
      for (const a of failed) {
        const key = `${a.endpoint}\u0000${a.error}`;
        const c = counts.get(key) ?? { endpoint: a.endpoint, cause: a.error as string, count: 0 };
        c.count++;
        counts.set(key, c);
      }
      if (r.attempts.some((a) => a.continuation)) rescues++;
      const first = failed[0] as (typeof failed)[number];
      last.push({
        atMs: r.startedAtMs,
        route: r.route,
        outcome: r.outcome,
        path: r.attempts
          .map((a) => `${a.endpoint}${a.error ? `:${a.error}` : ''}${a.continuation ? '(continued)' : ''}`)
          .join(' → '),
        cause: first.error as string,
        from: first.endpoint,
        to: r.endpoint,
      });
    }
    return {
      fromMs,
      counts: [...counts.values()].sort((a, b) => b.count - a.count),
      rescues,
      last: last.slice(-8).reverse(),
    };
  }

  async endpoint(name: string, window: WindowName): Promise<EndpointDetail | undefined> {
    const { fleet, store } = this.#deps;
    const endpoint = fleet.endpoints.find((e) => e.name === name);
    if (!endpoint) return undefined;
    const nowMs = this.#now();
    const range = windowQuery(window, nowMs);
    const sinceMs = nowMs - (range.toMs - range.fromMs);
    const card = await this.#card(endpoint, await this.#verdict(window, sinceMs, nowMs), range);
    const series = store ? await store.series(name, range) : [];
    const availabilityWindow = windowByName(fleet, endpoint.slo.availability.window);
    const recovery = judgeRecovery(endpoint, await this.#incidents({ fromMs: range.fromMs, toMs: nowMs }), {
      sinceMs: range.fromMs,
      nowMs,
    });
    const runs = (await store?.calibrationRuns?.(name, 20)) ?? [];
    const { ttft, throughput } = endpoint.slo;
    const failovers: EndpointDetail['failovers'][number][] = [];
    if (store && isFleetStore(store))
      for (const r of await store.records(
        { fromMs: Math.max(range.fromMs, nowMs - FAILOVER_SPAN_MS), toMs: nowMs + 1 },
        undefined,
        20_000,
      ))
        for (const a of r.attempts)
          if (a.endpoint === name && a.error)
            failovers.push({ atMs: a.startedAtMs, cause: a.error, to: r.endpoint });
    const judged = card.objectives.filter(
      (o) => o.verdict !== 'best-effort' && o.kind !== 'recovery' && o.target > 0 && o.target < 1,
    );
    const budgetAtMs: number[] = [];
    for (let t = range.fromMs; t < range.toMs; t += range.stepMs) budgetAtMs.push(t);
    const minutes =
      judged.length > 0 && store?.sloBuckets
        ? await store.sloBuckets(
            { fromMs: range.fromMs, toMs: range.toMs },
            judged.map((o) => o.id),
          )
        : [];
    const budget = judged.map((o) => {
      const bad = budgetAtMs.map(() => 0);
      const total = budgetAtMs.map(() => 0);
      for (const b of minutes) {
        if (b.objectiveId !== o.id) continue;
        const i = Math.floor((b.minuteStartMs - range.fromMs) / range.stepMs);
        if (i < 0 || i >= total.length) continue;
        total[i] = (total[i] as number) + b.total;
        bad[i] = (bad[i] as number) + (b.total - b.good);
      }
      let badSum = 0;
      let totalSum = 0;
      const points = budgetAtMs.map((_, i) => {
        badSum += bad[i] as number;
        totalSum += total[i] as number;
        if (totalSum === 0) return null;
        return Math.round((1 - badSum / ((1 - o.target) * totalSum)) * 1000) / 1000;
      });
      return { objective: o.id, label: o.description, points };
    });
    return {
      card,
      window,
      range,
      nowMs,
      targets: {
        ...(ttft ? { ttftP95Ms: ttft.p95Ms, ttftP99Ms: ttft.p99Ms } : {}),
        ...optional('sustainedTokensPerSecond', throughput.sustainedTokensPerSecond),
        ...optional('burstTokensPerSecond', throughput.burstTokensPerSecond),
      },
      series,
      availability: {
        window: availabilityWindow.name,
        ...(availabilityWindow.always ? {} : { timeZone: availabilityWindow.timeZone }),
        businessHours: businessHourIntervals(availabilityWindow, {
          fromMs: range.fromMs,
          toMs: Math.min(range.toMs, nowMs),
        }),
        incidents: recovery.incidents.map((j) => ({
          ...j.incident,
          durationMs: j.durationMs,
          ...optional('recoveryMs', recovery.recoveryMs),
          verdict: j.verdict,
        })),
      },
      calibrationRuns: runs.map((r) => ({
        atMs: r.startedAtMs,
        iterations: r.iterations,
        measured: r.summary,
        proposed: r.proposed,
        ...optional('note', r.note),
      })),
      failovers,
      budget,
      budgetAtMs,
      routingRules: fleet.routing.rules.flatMap((rule): RuleForEndpoint[] => {
        if (rule.endpoint === name) return [{ ...ruleView(fleet, rule), role: 'primary' }];
        if (rule.fallbacks.includes(name)) return [{ ...ruleView(fleet, rule), role: 'fallback' }];
        return [];
      }),
    };
  }

  routing(): RoutingView {
    const { fleet } = this.#deps;
    return {
      rules: fleet.routing.rules.map((r) => ruleView(fleet, r)),
      defaultEndpoint: fleet.routing.defaultEndpoint,
      aliases: fleet.routing.taskAliases,
    };
  }

  route(request: { task: string; promptTokens: number; maxTokens?: number }): RouteAnswer {
    const health = this.healthStates();
    const decision = this.#deps.route
      ? this.#deps.route({ ...request, health })
      : selectEndpoint(this.#deps.fleet, { ...request, health });
    return { ...summarizeDecision(decision), health: Object.fromEntries(health) };
  }

  healthStates(): Map<string, EndpointHealth> {
    return new Map(this.#deps.health?.states() ?? []);
  }

  /** Stored history merged with the live state (whose open incident the store may not have yet). */
  async #incidents(range: { fromMs: number; toMs: number }): Promise<Incident[]> {
    const stored = (await this.#deps.store?.incidents?.(range)) ?? [];
    const live = this.#deps.health?.incidents() ?? [];
    const key = (i: Incident): string => `${i.endpoint}#${i.replica ?? ''}@${i.startedAtMs}`;
    const merged = new Map<string, Incident>(stored.map((i) => [key(i), i]));
    for (const i of live) merged.set(key(i), i);
    return [...merged.values()].sort((a, b) => a.startedAtMs - b.startedAtMs);
  }

  /**
   * Verdicts are reused for a while that grows with the window (1 s for 1 h, 24 s for 24 h, at most
   * 60 s): evaluating 30 days is synchronous work (~10-60 ms on the sqlite store's rollups, more on
   * the in-memory store), and the gateway shares this event loop. Up/down state is read live on every request, and a health change drops
   * the cache, so an outage still shows at once.
   */
  #verdict(window: WindowName, sinceMs: number, nowMs: number): Promise<FleetVerdict> {
    const ttlMs = Math.min(60_000, Math.max(1000, WINDOWS[window].lengthMs / 3600));
    const cached = this.#cache.get(window);
    if (cached && nowMs >= cached.atMs && nowMs - cached.atMs < ttlMs) return cached.verdict;
    const verdict = this.#evaluate(sinceMs, nowMs);
    this.#cache.set(window, { atMs: nowMs, verdict });
    verdict.catch(() => this.#cache.delete(window));
    return verdict;
  }

  async #evaluate(sinceMs: number, nowMs: number): Promise<FleetVerdict> {
    const { fleet, store, evaluate } = this.#deps;
    if (evaluate) return evaluate({ fleet, sinceMs, nowMs });
    if (store && isFleetStore(store)) {
      // The very input `llm-fleet check` judges, except that measured values come from the store's
      // minute histograms (±2.2%) instead of re-reading every raw record on each refresh.
      const data = await evaluationData(fleet, store, { sinceMs, nowMs, rawRetentionMs: 0 });
      return evaluateFleet(fleet, {
        ...data,
        incidents: await this.#incidents({ fromMs: sinceMs, toMs: nowMs }),
      });
    }
    const runs = (await store?.calibrationRuns?.()) ?? [];
    const observedValues: Record<string, number> = {};
    for (const o of reportedObjectivesFor(fleet)) {
      const value = (await store?.objectiveCounts(o.id, { fromMs: sinceMs, toMs: nowMs + 1 }))?.observedValue;
      if (value !== undefined) observedValues[o.id] = value;
    }
    return evaluateFleet(fleet, {
      buckets: store ? await partialBuckets(fleet, store, sinceMs, nowMs) : [],
      incidents: await this.#incidents({ fromMs: sinceMs, toMs: nowMs }),
      fingerprints: { calibrated: runs.map((r) => r.fingerprint), observed: [] },
      marks: (await store?.marks?.()) ?? [],
      observedValues,
      nowMs,
      sinceMs,
    });
  }

  async #card(
    endpoint: Endpoint,
    verdict: FleetVerdict,
    range: SeriesQuery,
    failovers?: FailoverSummary,
  ): Promise<EndpointCard> {
    const { fleet, health, store } = this.#deps;
    const host = fleet.hosts.find((h) => h.name === endpoint.host);
    const live = health?.state(endpoint.name) ?? 'unknown';
    const open = health
      ?.incidents()
      .findLast((i) => i.endpoint === endpoint.name && i.replica === undefined && i.endedAtMs === undefined);
    const pool = endpoint.replicas ?? [];
    const replicaStates = health?.replicaStates(endpoint.name);
    const replicas =
      pool.length > 1
        ? pool.map((r) => ({ id: r.id, url: r.url, state: replicaStates?.get(r.id) ?? 'unknown' }))
        : undefined;
    let state: CardState;
    if (endpoint.status === 'planned') state = 'planned';
    else if (live === 'up' && health?.degradedHosts().includes(endpoint.host)) state = 'degraded';
    else if (live === 'up' && replicas?.some((r) => r.state === 'down')) state = 'degraded';
    else state = live;
    const whole = store
      ? await store.series(endpoint.name, { ...range, stepMs: range.toMs - range.fromMs })
      : [];
    const judged = verdict.endpoints.find((e) => e.endpoint === endpoint.name);
    const objectives = (judged?.objectives ?? []).map((o) => this.#objectiveView(o));
    return {
      name: endpoint.name,
      env: endpoint.env,
      host: { name: endpoint.host, address: host?.address ?? '', description: host?.description ?? '' },
      ...optional('hardware', endpoint.hardware),
      ...optional('port', endpoint.port),
      ...optional('url', endpoint.url),
      urlFromEnv: endpoint.urlFromEnv,
      ...optional('replicas', replicas),
      model: endpoint.model,
      kind: endpoint.kind,
      dialect: endpoint.dialect,
      ...optional('contextWindowTokens', endpoint.contextWindowTokens),
      ...optional('notes', endpoint.notes),
      state,
      ...(state === 'down' && open ? { sinceMs: open.startedAtMs, cause: open.cause } : {}),
      objectives,
      triggers: (judged?.triggers ?? []).map((t) => ({ kind: t.kind, evidence: t.evidence, atMs: t.atMs })),
      requests: whole.reduce((n, p) => n + p.requests, 0),
      errors: whole.reduce((n, p) => n + p.errors, 0),
      ...(failovers
        ? {
            failedAttempts: failovers.counts
              .filter((c) => c.endpoint === endpoint.name)
              .map(({ cause, count }) => ({ cause, count })),
          }
        : {}),
    };
  }

  #objectiveView(o: ObjectiveVerdict): ObjectiveView {
    const value = o.measured.value;
    const a = o.availability;
    return {
      id: o.objective.id,
      kind: o.objective.kind,
      description: o.objective.description,
      target: o.target.ratio,
      ...optional('threshold', o.target.threshold),
      unit: o.target.unit,
      good: o.measured.good,
      total: o.measured.total,
      ...optional('ratio', o.measured.ratio),
      ...optional('value', value),
      ...optional('budgetRemaining', o.budgetRemaining),
      ...(o.burn
        ? {
            burn: {
              windows: o.burn.windows.map((w) => ({
                windowMs: w.windowMs,
                ...optional('burnRate', w.burnRate),
              })),
              alerts: o.burn.alerts.map((a) => ({
                name: a.pair.name,
                severity: a.pair.severity,
                factor: a.pair.factor,
                shortWindowMs: a.pair.shortWindowMs,
                longWindowMs: a.pair.longWindowMs,
                firing: a.firing,
              })),
              firing: o.burn.firing,
            },
          }
        : {}),
      ...(o.aggregate
        ? {
            aggregate: {
              units: o.aggregate.units,
              busyMs: o.aggregate.busyMs,
              ...optional('ratePerSecond', o.aggregate.ratePerSecond),
              windows: o.aggregate.windows.map((w) => ({
                windowMs: w.windowMs,
                ...optional('ratePerSecond', w.ratePerSecond),
              })),
              firing: o.aggregate.firing,
            },
          }
        : {}),
      verdict: o.verdict,
      reason: o.reason,
      performance: o.objective.performance,
      ...(a
        ? {
            availability: {
              window: a.windowDescription,
              ...optional('calendarMonth', a.calendarMonth.ratio),
              ...optional('rolling30Days', a.rolling30Days.ratio),
            },
          }
        : {}),
    };
  }
}

/**
 * The evaluator's buckets from a partial store, read the way the store's `evaluationData` reads the
 * sqlite store: minutes where burn rates and sustained violations look, older history summed per day
 * between the edges the evaluator sums over (the window start, the rolling 30 days, the month start).
 */
async function partialBuckets(
  fleet: Fleet,
  store: PartialStore,
  sinceMs: number,
  nowMs: number,
): Promise<MinuteBucket[]> {
  const fromMs = Math.min(sinceMs, nowMs - AVAILABILITY_LOOKBACK_MS);
  const toMs = nowMs + 60_000;
  if (!store.sloBucketsCoarse) return (await store.sloBuckets?.({ fromMs, toMs })) ?? [];
  const recentMs = Math.max(...BURN_RATE_WINDOWS_MS, fleet.recalibration.sustainedViolations.windowMs);
  const fineFromMs = Math.max(fromMs, Math.floor((nowMs - recentMs) / 60_000) * 60_000);
  const zones = new Set(fleet.endpoints.map((e) => windowByName(fleet, e.slo.availability.window).timeZone));
  const cuts = [sinceMs, nowMs - 30 * 86_400_000, ...[...zones].map((zone) => startOfMonthMs(zone, nowMs))];
  return [
    ...(await store.sloBucketsCoarse({ fromMs, toMs: fineFromMs }, cuts)),
    ...((await store.sloBuckets?.({ fromMs: fineFromMs, toMs })) ?? []),
  ];
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function ruleView(fleet: Fleet, rule: RoutingRule): RoutingRuleView {
  return {
    task: rule.task,
    taskLabel: rule.taskLabel,
    tokenLabel: rule.tokenLabel,
    endpoint: rule.endpoint,
    ...optional('env', fleet.endpoints.find((e) => e.name === rule.endpoint)?.env),
    fallbacks: rule.fallbacks,
    rationale: rule.rationale,
  };
}
