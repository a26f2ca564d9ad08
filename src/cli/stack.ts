// The running llm-fleet: gateway + monitor + store + dashboard, wired the same way for `serve`
// (real endpoints) and `demo` (simulated ones). The store persists request records, probes and
// incidents, so `check`, `report` and the dashboard read what the gateway and monitor saw, and a
// restart resumes open incidents.
import type { GatewayEventSink } from '../gateway/events.ts';
import type { CalibrationFigures } from '../routing/index.ts';
import { createDashboard } from '../dashboard/index.ts';
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import type { Gateway, GatewayDeps } from '../gateway/index.ts';
import { buildGateway } from '../gateway/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { Monitor } from '../probes/monitor.ts';
import type { FleetHealthState } from '../probes/types.ts';
import { createHealthStateFromStore, startMonitor } from '../probes/monitor.ts';
import { openStore } from '../store/open.ts';
import { defaultStorePath } from '../store/sqlite-store.ts';
import type { FleetStore } from '../store/types.ts';
import { SharedLedger } from '../gateway/load/shared-ledger.ts';
import { createSharedState, IpcBackend, type SharedState } from '../state/index.ts';
import { isLoopbackHost } from '../upstream/guard.ts';
import type { CliIo } from './io.ts';

export interface StackOptions {
  readonly port: number;
  readonly host: string;
  readonly apiKeys?: readonly string[];
  /** Store file or postgres:// URL; default $LLM_FLEET_STORE or .llm-fleet/fleet.db. */
  readonly store?: string;
  /** Probe the endpoints (default true). Without it the gateway steers on its circuit breakers. */
  readonly monitor?: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly onRecord?: (record: RequestRecord) => void;
  /** Retries, failovers, rescues and breaker transitions (serve's log). */
  readonly events?: GatewayEventSink;
  /** The endpoints are llm-fleet's simulators (the demo): every stored record says so. */
  readonly simulated?: boolean;
  /** `memory` (default) or redis://host:port: the state shared with other replicas. */
  readonly state?: string;
  /** Longest a request waits on the shared state before local state answers (default 50 ms). */
  readonly stateTimeoutMs?: number;
  /** A cluster worker without Redis: share the primary's state over IPC. */
  readonly ipcState?: boolean;
}

export interface Stack {
  readonly gateway: Gateway;
  readonly url: string;
  readonly store: FleetStore;
  readonly monitor?: Monitor;
  /** Probe-backed endpoint health (absent with `monitor: false`). */
  readonly health?: FleetHealthState;
  readonly state: SharedState;
  stop(): Promise<void>;
}

export async function startStack(fleet: Fleet, io: CliIo, options: StackOptions): Promise<Stack> {
  const storePath = defaultStorePath(options.store, options.env);
  const store = await openStore(storePath, { fleet });
  // With the monitor, the gateway routes on probe-backed health (a down endpoint is tried last and
  // comes back when its probes pass); without it, circuit breakers alone steer around failures.
  let health;
  try {
    health = options.monitor === false ? undefined : await createHealthStateFromStore(fleet, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  const dashboard = createDashboard({ fleet, store, health });
  let state: SharedState;
  try {
    state = await createSharedState(fleet, {
      ...(options.state !== undefined ? { state: options.state } : {}),
      ...(options.stateTimeoutMs !== undefined ? { timeoutMs: options.stateTimeoutMs } : {}),
      ...(options.ipcState && !options.state ? { backend: new IpcBackend() } : {}),
    });
  } catch (error) {
    dashboard.close();
    await store.close();
    throw error;
  }
  const status = state.status();
  if (!status.shared)
    io.err(
      `llm-fleet: shared state at ${status.where ?? status.mode} unreachable (${status.lastError ?? 'no answer'}): serving on local state, will resynchronise when it answers\n`,
    );
  // The TTFT predictor starts from each endpoint's latest calibration when the store has one.
  const calibrations = new Map<string, CalibrationFigures>();
  for (const e of fleet.endpoints) {
    const [run] = await store.calibrationRuns(e.name, 1).catch(() => []);
    const s = run?.summary;
    if (s?.ttftP50Ms !== undefined)
      calibrations.set(e.name, {
        promptTokens: fleet.calibration.promptTokens,
        ttftP50Ms: s.ttftP50Ms,
        ttftP99Ms: s.ttftP99Ms,
        decodeTokensPerSecondP50: s.decodeTokensPerSecondP50,
        networkOverheadMs: s.networkOverheadMs,
      });
  }
  const ledger = state.mode !== 'memory' ? new SharedLedger(state) : undefined;
  let started: { gateway: Gateway; url: string };
  try {
    started = await startGateway(
      fleet,
      { ...io, env: options.env },
      {
        port: options.port,
        host: options.host,
        apiKeys: options.apiKeys,
        deps: {
          health,
          sink: options.simulated ? { write: (r) => store.write({ ...r, simulated: true }) } : store,
          dashboard,
          onRecord: options.onRecord,
          events: options.events,
          state,
          // Replicas sharing state see each other's dispatches too (published every 250 ms).
          ...(ledger ? { loadLedger: ledger } : {}),
          calibrations,
        },
      },
    );
  } catch (error) {
    dashboard.close();
    ledger?.close();
    await state.close();
    await store.close();
    throw error;
  }
  const { gateway, url } = started;
  const monitor = health
    ? await startMonitor(fleet, {
        store,
        state: health,
        registry: gateway.metrics,
        env: options.env,
        // With replicas, one probes each endpoint and all route on what it found.
        ...(state.mode !== 'memory' ? { coordination: state } : {}),
        saturated: saturatedBy(gateway),
      })
    : undefined;
  return {
    gateway,
    url,
    store,
    monitor,
    health,
    state,
    async stop() {
      await monitor?.stop();
      // Live event streams first, or the server would wait for them to end.
      dashboard.close();
      await gateway.close();
      ledger?.close();
      await state.close();
      // The last batch could not be written (the database is unreachable): say what was lost and
      // stop anyway, rather than hang or crash on the way out.
      const unsent = store.unsentRows();
      await store
        .close()
        .catch((error: unknown) =>
          io.err(
            `llm-fleet: the store (${store.location}) did not take its last ${unsent} rows: ${(error as Error).message}\n`,
          ),
        );
    },
  };
}

/**
 * The monitor's `saturated` hook as `serve` wires it: the gateway's load view says the endpoint is
 * queueing (its engine reports waiting requests, the ledger is at its slots, or the KV cache is full).
 */
export function saturatedBy(gateway: Gateway): (endpoint: string, replica?: string) => boolean {
  const { fleet, load } = gateway.context;
  return (name, replica) => {
    const e = fleet.endpoints.find((x) => x.name === name);
    if (e === undefined) return false;
    const now = load.view.load(e);
    // One server of a pool is judged by its own queue, not by the pool's.
    return replica === undefined || now.replicas === undefined
      ? now.saturated
      : now.replicas.find((r) => r.id === replica)?.saturated === true;
  };
}

/** Waits for SIGINT/SIGTERM, then runs `stop`. */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      void stop().finally(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function startGateway(
  fleet: Fleet,
  io: CliIo,
  options: { port: number; host: string; apiKeys?: readonly string[]; deps?: GatewayDeps },
): Promise<{ gateway: Gateway; url: string }> {
  if (!isLoopbackHost(options.host)) {
    io.err(
      `llm-fleet: listening on ${options.host}: the gateway is reachable from other machines${
        fleet.gateway.apiKeys.length + (options.apiKeys?.length ?? 0) === 0 ? ' and no API key is set' : ''
      }\n`,
    );
  }
  const envKeys = (io.env.LLM_FLEET_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const gateway = buildGateway(fleet, {
    env: io.env,
    processMetrics: true,
    ...options.deps,
    apiKeys: [...(options.apiKeys ?? []), ...envKeys, ...(options.deps?.apiKeys ?? [])],
  });
  try {
    const url = await gateway.listen(options.port, options.host);
    return { gateway, url };
  } catch (error) {
    await gateway.close();
    const code = (error as { code?: string }).code;
    throw new FleetError(
      'listen_failed',
      `cannot listen on ${options.host}:${options.port}: ${code ?? String(error)}`,
      { hint: code === 'EADDRINUSE' ? 'another process uses the port: pick one with --port' : undefined },
    );
  }
}
