// The monitor: every `intervalMs` a health check of each routable endpoint and, every
// `requestProbeEvery` ticks, a small real request of its kind. Results feed the shared health
// state (N failures → down, M successes → up), the store, and the Prometheus counters that the
// exported rules and `llm-fleet check` both read. Incidents are persisted as they open and close,
// judged against the endpoint's recovery objective.
import { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { replicasOf, routableEndpoints } from '../fleet/index.ts';
import { probeEvents, SATURATED_CAUSE } from '../slo/events.ts';
import type { FleetStore } from '../store/types.ts';
import { observeFingerprint } from './fingerprint.ts';
import { checkHealth, createProbeDispatcher } from './health.ts';
import type { MonitorMetrics } from './metrics.ts';
import { monitorMetrics } from './metrics.ts';
import { probeRequest } from './request-probe.ts';
import type { HealthStateMachine, HealthStateOptions } from './state.ts';
import { createHealthState } from './state.ts';
import type { Incident, ProbeCoordination, ProbeResult } from './types.ts';

export const DEFAULT_REQUEST_PROBE_EVERY = 4;
export const DEFAULT_FINGERPRINT_EVERY = 40;
/** Longest a real request probe may take (a reasoning model's thinking included). */
export const REQUEST_PROBE_MAX_MS = 120_000;
/** How far back incidents are loaded into a new state (the dashboard lists them). */
const RESTORE_INCIDENTS_MS = 31 * 24 * 60 * 60_000;

export interface MonitorOptions {
  /** Where probe results and incidents go (optional: the monitor also runs without one). */
  readonly store?: FleetStore;
  /** The shared state (the gateway passes its own); default: a new one restored from the store. */
  readonly state?: HealthStateMachine;
  /** Default: a new Registry. The gateway passes its own so one /metrics shows all. */
  readonly registry?: Registry;
  /** Default: the fleet file's gateway.probeIntervalMs (15 s). */
  readonly intervalMs?: number;
  /** A real request every this many ticks (default 4, i.e. every minute at 15 s). 0 disables. */
  readonly requestProbeEvery?: number;
  /** Per-probe timeout. Default: min(interval, 10 s) for health; request probes get the TTFT timeout too. */
  readonly timeoutMs?: number;
  /** Read what each endpoint reports about itself every this many ticks (default 40; 0 disables). */
  readonly fingerprintEvery?: number;
  /** Completion budget of chat probes (default: 1024 for reasoning models, 16 otherwise). */
  readonly requestMaxTokens?: number;
  readonly clock?: () => number;
  readonly env?: NodeJS.ProcessEnv;
  /** Health-state thresholds when the monitor builds its own state. */
  readonly downAfter?: number;
  readonly upAfter?: number;
  /** Start probing at once (default true); tests may drive `tick()` themselves. */
  readonly autoStart?: boolean;
  /**
   * Replicas sharing state: probe only the endpoints whose lease this replica holds, publish what
   * was found, take in the others' findings. Without it every endpoint is probed here.
   */
  readonly coordination?: ProbeCoordination;
  /** Called with each probe result (logging, tests). */
  readonly onProbe?: (result: ProbeResult) => void;
  /**
   * Whether the endpoint is saturated now (the gateway's load view: the engine reports queueing or
   * the ledger is full). A real request that times out on a saturated endpoint that answers /health
   * is load, not an outage: it marks nothing down and opens no incident.
   */
  readonly saturated?: (endpoint: string, replica?: string) => boolean;
}

/** What one health check goes to: an endpoint's server, or one replica of its pool. */
interface Target {
  readonly endpoint: Endpoint;
  /** The endpoint as this server is reached (a replica's URL in place of the first's). */
  readonly server: Endpoint;
  readonly replica?: string;
  /** Key of the per-server probe memory (`endpoint` or `endpoint#replica`). */
  readonly key: string;
}

function targetsOf(endpoint: Endpoint): Target[] {
  const pool = replicasOf(endpoint);
  if (pool.length < 2) return [{ endpoint, server: endpoint, key: endpoint.name }];
  return pool.map((r) => ({
    endpoint,
    server: { ...endpoint, url: r.url },
    replica: r.id,
    key: `${endpoint.name}#${r.id}`,
  }));
}

function withReplica(result: ProbeResult, target: Target): ProbeResult {
  return target.replica === undefined ? result : { ...result, replica: target.replica };
}

/** A pool's health, from its replicas' checks of one round: ok while any of them answered. */
export function poolVerdict(endpoint: Endpoint, checks: readonly ProbeResult[]): ProbeResult {
  const ok = checks.filter((c) => c.ok);
  const first = ok[0] ?? checks[0];
  const atMs = Math.min(...checks.map((c) => c.atMs));
  const failed = checks.filter((c) => !c.ok).map((c) => `replica ${c.replica}: ${c.cause ?? c.detail}`);
  return {
    endpoint: endpoint.name,
    kind: 'health',
    atMs,
    ok: ok.length > 0,
    latencyMs:
      ok.length > 0 ? Math.min(...ok.map((c) => c.latencyMs)) : Math.max(...checks.map((c) => c.latencyMs)),
    ...(first?.status !== undefined ? { status: first.status } : {}),
    ...(ok.length === 0 && first?.cause !== undefined ? { cause: first.cause } : {}),
    detail:
      ok.length === checks.length
        ? `${checks.length} of ${checks.length} replicas up`
        : `${ok.length} of ${checks.length} replicas up (${failed.join('; ')})`,
  };
}

export interface Monitor {
  readonly state: HealthStateMachine;
  readonly registry: Registry;
  readonly metrics: MonitorMetrics;
  readonly intervalMs: number;
  /** Runs one round of probes now (and waits for it). */
  tick(): Promise<ProbeResult[]>;
  /** Stops the timer and waits for a round in flight. Does not close the store. */
  stop(): Promise<void>;
}

/** A health state that resumes the store's open incidents (restart mid-incident loses nothing). */
export async function createHealthStateFromStore(
  fleet: Fleet,
  store: FleetStore | undefined,
  options: HealthStateOptions = {},
): Promise<HealthStateMachine> {
  const nowMs = (options.clock ?? Date.now)();
  const restore = store
    ? dedupe([
        ...(await store.incidents({ fromMs: nowMs - RESTORE_INCIDENTS_MS, toMs: nowMs + 1 })),
        ...(await store.openIncidents()),
      ])
    : [];
  return createHealthState(fleet, { ...options, restore });
}

function dedupe(incidents: readonly Incident[]): Incident[] {
  const seen = new Map<string, Incident>();
  for (const i of incidents) seen.set(`${i.endpoint}\u0000${i.startedAtMs}`, i);
  return [...seen.values()];
}

export async function startMonitor(fleet: Fleet, options: MonitorOptions = {}): Promise<Monitor> {
  const clock = options.clock ?? Date.now;
  const intervalMs = options.intervalMs ?? fleet.gateway.probeIntervalMs;
  const requestEvery = options.requestProbeEvery ?? DEFAULT_REQUEST_PROBE_EVERY;
  const fingerprintEvery = options.fingerprintEvery ?? DEFAULT_FINGERPRINT_EVERY;
  /** Last fingerprint stored per endpoint (without its time): only changes are written. */
  const lastFingerprint = new Map<string, string>();
  const timeoutMs = options.timeoutMs ?? Math.min(Math.max(intervalMs, 1_000), 10_000);
  const store = options.store;
  const state =
    options.state ??
    (await createHealthStateFromStore(fleet, store, {
      clock,
      ...(options.downAfter !== undefined ? { downAfter: options.downAfter } : {}),
      ...(options.upAfter !== undefined ? { upAfter: options.upAfter } : {}),
    }));
  const registry = options.registry ?? new Registry();
  const metrics = monitorMetrics(registry);
  const endpoints = routableEndpoints(fleet);
  const byName = new Map(fleet.endpoints.map((e) => [e.name, e]));
  const dispatcher: Dispatcher = createProbeDispatcher(timeoutMs, options.env ?? process.env);
  let tickCount = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let inFlight: Promise<ProbeResult[]> | undefined;
  let stopped = false;

  /** Incident writes in order (an open then its close, never the other way round on a pool). */
  let incidentWrites: Promise<void> = Promise.resolve();
  const unsubscribeIncidents = state.onIncident((incident) => {
    const endpoint = byName.get(incident.endpoint);
    // A replica's incident is its own record; the endpoint's recovery objective judges only its own.
    const recoveryMs = incident.replica === undefined ? endpoint?.slo.recoveryMs : undefined;
    if (store) {
      const stored = { ...incident, ...(recoveryMs !== undefined ? { recoveryMs } : {}) };
      incidentWrites = incidentWrites
        .then(() => store.saveIncident(stored))
        .catch((error: unknown) =>
          process.emitWarning(
            `llm-fleet monitor: incident on ${incident.endpoint} not stored: ${(error as Error).message}`,
          ),
        );
    }
    if (incident.endedAtMs !== undefined && incident.replica === undefined) {
      const late = recoveryMs !== undefined && incident.endedAtMs - incident.startedAtMs > recoveryMs;
      metrics.recoveryEpisodes.inc({ endpoint: incident.endpoint, outcome: late ? 'exceeded' : 'within' });
    }
  });

  function record(result: ProbeResult): void {
    if (result.replica !== undefined) {
      // One server of a pool: its own up/down and incidents; the pool's verdict is what counts.
      metrics.replicaProbes.inc({
        endpoint: result.endpoint,
        replica: result.replica,
        kind: result.kind,
        result: result.ok ? 'ok' : 'fail',
      });
      options.onProbe?.(result);
      return;
    }
    store?.writeProbe(result);
    metrics.probes.inc({
      endpoint: result.endpoint,
      kind: result.kind,
      result: result.ok ? 'ok' : result.cause === SATURATED_CAUSE ? 'saturated' : 'fail',
    });
    for (const e of probeEvents(fleet, result))
      metrics.sloEvents.inc({ slo: e.objectiveId, endpoint: e.endpoint, outcome: e.outcome });
    options.onProbe?.(result);
  }

  async function recordFingerprint(endpoint: Endpoint): Promise<void> {
    if (!store) return;
    const fingerprint = await observeFingerprint(fleet, endpoint, { timeoutMs, dispatcher, clock });
    const { atMs, ...what } = fingerprint;
    void atMs;
    const key = JSON.stringify(what);
    if (lastFingerprint.get(endpoint.name) === key) return;
    lastFingerprint.set(endpoint.name, key);
    await store.saveObservedFingerprint(fingerprint);
  }

  /** Whether each endpoint's last health check failed: its next success may be a restarted server. */
  const lastHealthFailed = new Map<string, boolean>();

  /** The last real request's failure, while it lasts: /health alone cannot bring the endpoint back. */
  const requestFailure = new Map<string, ProbeResult>();

  function observe(result: ProbeResult, ok: boolean, failure?: ProbeResult): void {
    const cause = ok ? undefined : (failure ?? result).cause;
    const observation = {
      endpoint: result.endpoint,
      ...(result.replica !== undefined ? { replica: result.replica } : {}),
      ok,
      atMs: result.atMs,
      ...(cause !== undefined ? { cause } : {}),
      detail: (failure ?? result).detail,
    };
    state.observe({ ...observation, source: 'probe' });
    coordination?.publishProbe(observation);
  }

  const coordination = options.coordination;
  const unsubscribeRemote = coordination?.onProbe((observation) => {
    state.observe({ ...observation, source: 'probe' });
    updateGauges();
  });
  /** A lease outlives two rounds, so a slow round never hands the endpoint to another replica. */
  const leaseMs = 2 * intervalMs + timeoutMs;

  async function requestRound(target: Target): Promise<ProbeResult[]> {
    const { endpoint } = target;
    const probe = withReplica(
      await probeRequest(target.server, {
        // A reasoning model may think for a while before it answers; bounded so a hung server
        // cannot hold the probe for the endpoint's whole request timeout.
        timeoutMs: Math.max(timeoutMs, Math.min(endpoint.timeouts.totalTimeoutMs, REQUEST_PROBE_MAX_MS)),
        dispatcher,
        clock,
        ...(options.requestMaxTokens !== undefined ? { maxTokens: options.requestMaxTokens } : {}),
      }),
      target,
    );
    if (!probe.ok && probe.cause === 'timeout' && options.saturated?.(endpoint.name, target.replica)) {
      record({
        ...probe,
        cause: SATURATED_CAUSE,
        detail: `${probe.detail}; the engine reports queueing (load, not an outage)`,
      });
      return [probe];
    }
    record(probe);
    if (probe.ok) requestFailure.delete(target.key);
    else requestFailure.set(target.key, probe);
    observe(probe, probe.ok);
    return [probe];
  }

  /** The state of what a target probes: the endpoint, or one replica of its pool. */
  function stateOf(target: Target): string {
    return target.replica === undefined
      ? state.state(target.endpoint.name)
      : (state.replicaStates(target.endpoint.name).get(target.replica) ?? 'unknown');
  }

  /** One server's health check, and its real request when one is due (still running when returned). */
  async function serverRound(
    target: Target,
    withRequest: boolean,
    withFingerprint: boolean,
  ): Promise<{ health: ProbeResult; request?: Promise<ProbeResult[]> }> {
    const health = withReplica(await checkHealth(target.server, { timeoutMs, dispatcher, clock }), target);
    record(health);
    const failure = requestFailure.get(target.key);
    const wasDown = stateOf(target) === 'down';
    observe(health, health.ok && !failure, health.ok ? failure : undefined);
    // Back after a failed check or a down spell: a restart may have brought another model or build,
    // so what the server says about itself is read at once, not at the next scheduled read.
    const cameBack =
      health.ok && (lastHealthFailed.get(target.key) === true || (wasDown && stateOf(target) === 'up'));
    lastHealthFailed.set(target.key, !health.ok);
    // A pool's fingerprint is its first server's (the one host:port names).
    const fingerprinted =
      target.replica === undefined || target.replica === replicasOf(target.endpoint)[0]?.id;
    if (health.ok && fingerprinted && (withFingerprint || cameBack)) await recordFingerprint(target.endpoint);
    // A real request runs beside the health rounds (a reasoning model may take tens of seconds),
    // due every `requestProbeEvery` rounds and every round while the last one failed.
    if (health.ok && (withRequest || failure) && !busyRequest.has(target.key)) {
      const request = requestRound(target)
        .catch((): ProbeResult[] => [])
        .finally(() => busyRequest.delete(target.key));
      busyRequest.set(target.key, request);
      return { health, request };
    }
    return { health };
  }

  async function healthRound(
    endpoint: Endpoint,
    withRequest: boolean,
    withFingerprint: boolean,
  ): Promise<ProbeResult[]> {
    const targets = targetsOf(endpoint);
    const rounds = await Promise.all(targets.map((t) => serverRound(t, withRequest, withFingerprint)));
    const healths = rounds.map((r) => r.health);
    // A pool's probe, as its availability objective counts it: up while any replica answers.
    const verdict = targets.length > 1 ? poolVerdict(endpoint, healths) : undefined;
    if (verdict) record(verdict);
    const requests = await Promise.all(rounds.map((r) => r.request ?? Promise.resolve([])));
    return [...(verdict ? [verdict] : []), ...healths, ...requests.flat()];
  }

  function updateGauges(): void {
    const nowMs = clock();
    for (const e of endpoints) {
      const s = state.state(e.name);
      if (s !== 'unknown') metrics.up.set({ endpoint: e.name, host: e.host }, s === 'up' ? 1 : 0);
      metrics.downSeconds.set({ endpoint: e.name }, state.downForMs(e.name, nowMs) / 1000);
    }
  }

  /** Health probes in flight per endpoint: a slow one skips its own next round, never the others'. */
  const busy = new Map<string, Promise<ProbeResult[]>>();
  const busyRequest = new Map<string, Promise<ProbeResult[]>>();

  async function leased(): Promise<readonly Endpoint[]> {
    if (!coordination) return endpoints;
    const owned = await coordination.leases(
      endpoints.map((e) => e.name),
      leaseMs,
    );
    return endpoints.filter((e) => owned.has(e.name));
  }

  function tick(): Promise<ProbeResult[]> {
    const round = leased().then((mine) => probeRound(mine));
    inFlight = round;
    return round;
  }

  function probeRound(mine: readonly Endpoint[]): Promise<ProbeResult[]> {
    const withRequest = requestEvery > 0 && tickCount % requestEvery === 0;
    const withFingerprint = fingerprintEvery > 0 && tickCount % fingerprintEvery === 0;
    tickCount += 1;
    const started = mine.map((e) => {
      const running = busy.get(e.name);
      if (running) return running.then(() => []);
      const probe = healthRound(e, withRequest, withFingerprint)
        .catch((): ProbeResult[] => [])
        .finally(() => {
          busy.delete(e.name);
          updateGauges();
        });
      busy.set(e.name, probe);
      return probe;
    });
    return Promise.all(started).then((r) => r.flat());
  }

  function schedule(): void {
    if (stopped) return;
    timer = setInterval(() => void tick(), intervalMs);
  }

  updateGauges();
  if (options.autoStart ?? true) {
    void tick();
    schedule();
  }

  return {
    state,
    registry,
    metrics,
    intervalMs,
    tick,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await Promise.all(
        [inFlight, ...busy.values(), ...busyRequest.values()].map((p) => p?.catch(() => undefined)),
      );
      unsubscribeIncidents();
      await incidentWrites;
      unsubscribeRemote?.();
      await dispatcher.close().catch(() => undefined);
    },
  };
}
