// The gateway's live view of each endpoint's load: its own ledger (counted at dispatch), corrected
// upwards by the engine's own metrics while they are fresh, and the TTFT predictor's online state
// fed by every request's first token. Hands plain snapshots down to the pure decision.
import { replicasOf, type Endpoint, type Fleet } from '../../fleet/index.ts';
import {
  predictTtft,
  priorTtftModel,
  updateTtftModel,
  type CalibrationFigures,
  type LoadFigures,
  type TtftModel,
  type TtftPrediction,
} from '../../routing/predict.ts';
import {
  predictDecode,
  prefillShare,
  priorDecodeModel,
  updateDecodeModel,
  type DecodeModel,
  type DecodePrediction,
} from '../../routing/decode.ts';
import type { RequestRecord } from '../../measure/record.ts';
import type { Agent, Dispatcher } from 'undici';
import { scrapeDispatcher, scrapeEngine, scrapes, type EngineReading, type EngineState } from './engine.ts';
import {
  InProcessLedger,
  loadKey,
  type DispatchInfo,
  type LedgerCounts,
  type LoadKey,
  type LoadLedger,
} from './ledger.ts';

/** An endpoint's load as the decision sees it. */
export interface EndpointLoad extends LoadFigures {
  readonly ledger: LedgerCounts;
  readonly engine?: EngineReading;
  /** No fresh engine reading (never scraped, failed, or older than staleAfter): ledger only. */
  readonly engineStale: boolean;
  /** Queueing: the engine reports waiting requests, or the ledger is at the slots, or KV ≥ 95%. */
  readonly saturated: boolean;
  /** A replica pool's servers, each judged on its own reading and ledger (absent for one server). */
  readonly replicas?: readonly (EndpointLoad & { readonly id: string })[];
  /** Prompt tokens this gateway sent it per second lately (decaying over a request's service time). */
  readonly promptTokensPerSecond: number;
}

/** What the scraper reads: each server of an endpoint, keyed as the ledger keys it. */
function serversOf(endpoint: Endpoint): { id: string; key: LoadKey; server: Endpoint }[] {
  const pool = replicasOf(endpoint);
  if (pool.length < 2) return [{ id: '0', key: loadKey(endpoint.name), server: endpoint }];
  return pool.map((r) => ({
    id: r.id,
    key: loadKey(endpoint.name, r.id),
    server: { ...endpoint, url: r.url },
  }));
}

/** What a dispatched attempt reports back. */
export interface LoadTicket {
  /** The predicted TTFT after dispatch at the load the request found (chat endpoints). */
  readonly prediction?: TtftPrediction;
  /** First token seen, `ttftMs` after dispatch. */
  firstToken(ttftMs: number): void;
  end(): void;
}

interface Recent {
  ttftMs?: number;
  ttftSamples: number;
  promptTokens: number;
  /** The predictor's own error: prediction at dispatch against the TTFT that followed. */
  predicted: number;
  withinP95: number;
  withinP99: number;
  absLogErrorSum: number;
  /** Recent log(observed / predicted median) of TTFTs and of decode rates, for their medians. */
  ttftLogRatios: number[];
  decodeLogRatios: number[];
  /** Decode rates at or above the predicted slow end (P05 of rates): ideal 0.95. */
  decodePredicted: number;
  decodeAboveP05: number;
}

/** Decode rates whose record has not arrived yet: the prediction at dispatch and the load while it decoded. */
interface PendingDecode {
  readonly endpoint: string;
  readonly prediction: DecodePrediction;
  inFlightSum: number;
  prefillShareSum: number;
  inFlightSamples: number;
}

/** Bounds on what the view remembers per endpoint / in total. */
const RATIO_WINDOW = 4096;
const PENDING_LIMIT = 10_000;

/** How well the predictor did on an endpoint's requests so far (GET /fleet/load, the benchmark). */
export interface PredictorError {
  readonly samples: number;
  /** Share of requests whose TTFT was at most the predicted P95 (ideal 0.95) and P99 (0.99). */
  readonly withinP95: number | null;
  readonly withinP99: number | null;
  /** Median-prediction error, as the geometric mean factor − 1 (0.2 = off by 20% on average). */
  readonly meanFactorError: number | null;
  /** Median of observed TTFT / predicted median (ideal 1), over the last 4096 requests. */
  readonly medianRatio: number | null;
  /** The decode-rate prediction: requests (with a rate) it was checked on, the share decoding at or
   *  above the predicted slow end (P05; ideal 0.95), and the median of observed / predicted median. */
  readonly decodeSamples: number;
  readonly decodeAboveP05: number | null;
  readonly decodeMedianRatio: number | null;
}

function medianOf(logs: readonly number[]): number | null {
  if (logs.length === 0) return null;
  const s = [...logs].sort((a, b) => a - b);
  const mid = s.length / 2;
  const m = s.length % 2 ? (s[Math.floor(mid)] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return Math.exp(m);
}

function pushBounded(list: number[], x: number): void {
  list.push(x);
  if (list.length > RATIO_WINDOW) list.splice(0, list.length - RATIO_WINDOW);
}

const KV_SATURATED = 0.95;
const RECENT_WEIGHT = 0.1;

export interface LoadViewOptions {
  readonly ledger?: LoadLedger;
  readonly now?: () => number;
  /** Latest calibration figures per endpoint (from the store). */
  readonly calibrations?: ReadonlyMap<string, CalibrationFigures>;
}

export class LoadView {
  readonly ledger: LoadLedger;
  private readonly fleet: Fleet;
  private readonly now: () => number;
  private readonly engines = new Map<string, EngineState>();
  private readonly models = new Map<string, TtftModel>();
  private readonly decodeModels = new Map<string, DecodeModel>();
  private readonly pendingDecode = new Map<string, PendingDecode>();
  /** Prompt tokens dispatched per endpoint, as an exponentially decaying rate (value at `atMs`). */
  private readonly promptRate = new Map<string, { perSecond: number; atMs: number }>();
  private readonly recent = new Map<string, Recent>();
  /** Wall time of each endpoint's latest first token: the engine is making progress. */
  private readonly progressMs = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  /** Called after each good scrape (the admission queue decides again: capacity may show free). */
  onScrape?: () => void;
  private scraping = false;
  private dispatcher?: Agent;

  constructor(fleet: Fleet, options: LoadViewOptions = {}) {
    this.fleet = fleet;
    this.ledger = options.ledger ?? new InProcessLedger();
    this.now = options.now ?? Date.now;
    for (const e of fleet.endpoints) {
      this.models.set(e.name, priorTtftModel(fleet, e, options.calibrations?.get(e.name)));
      if (e.kind === 'chat')
        this.decodeModels.set(e.name, priorDecodeModel(fleet, e, options.calibrations?.get(e.name)));
      this.recent.set(e.name, {
        ttftSamples: 0,
        promptTokens: fleet.calibration.promptTokens,
        predicted: 0,
        withinP95: 0,
        withinP99: 0,
        absLogErrorSum: 0,
        ttftLogRatios: [],
        decodeLogRatios: [],
        decodePredicted: 0,
        decodeAboveP05: 0,
      });
    }
  }

  model(endpoint: string): TtftModel | undefined {
    return this.models.get(endpoint);
  }

  decodeModel(endpoint: string): DecodeModel | undefined {
    return this.decodeModels.get(endpoint);
  }

  /** The decode rate a chat request dispatched now would get (undefined for embeddings). */
  predictDecode(endpoint: Endpoint, load = this.load(endpoint)): DecodePrediction | undefined {
    const model = this.decodeModels.get(endpoint.name);
    return (
      model &&
      predictDecode(model, {
        // The model is per server: a pool's load, spread over its servers.
        othersInFlight: load.inFlight / serversOf(endpoint).length,
        prefillShare: this.prefillShareOf(endpoint.name, load.promptTokensPerSecond),
      })
    );
  }

  load(endpoint: Endpoint, nowMs = this.now()): EndpointLoad {
    const servers = serversOf(endpoint);
    if (servers.length === 1) return this.serverLoad(endpoint, loadKey(endpoint.name), nowMs);
    // A pool: each replica judged on its own reading and ledger, then summed. The pool is saturated
    // only when every replica is (the replica pick sends the next request to one that is not), and
    // its engine figures are stale when any replica's are (a failed scrape is never an idle server).
    const replicas = servers.map((r) => ({ id: r.id, ...this.serverLoad(endpoint, r.key, nowMs) }));
    const ledger = this.ledger.counts(loadKey(endpoint.name));
    const fresh = replicas.filter((r) => !r.engineStale && r.engine !== undefined);
    const sum = (f: (r: (typeof replicas)[number]) => number): number =>
      replicas.reduce((n, r) => n + f(r), 0);
    const kv = fresh.map((r) => r.engine?.kvCacheUsage).filter((x): x is number => x !== undefined);
    return {
      inFlight: Math.max(
        ledger.inFlight,
        sum((r) => r.inFlight),
      ),
      prefillWaitingTokens: Math.max(
        ledger.prefillWaitingTokens,
        sum((r) => r.prefillWaitingTokens),
      ),
      slots: sum((r) => r.slots ?? 0),
      ledger,
      engine:
        fresh.length > 0
          ? {
              running: fresh.reduce((n, r) => n + (r.engine?.running ?? 0), 0),
              waiting: fresh.reduce((n, r) => n + (r.engine?.waiting ?? 0), 0),
              ...(kv.length > 0 ? { kvCacheUsage: Math.max(...kv) } : {}),
              atMs: Math.min(...fresh.map((r) => r.engine?.atMs ?? nowMs)),
            }
          : undefined,
      engineStale: replicas.some((r) => r.engineStale),
      saturated: replicas.every((r) => r.saturated),
      replicas,
      // Per server, as the decode model reads it (a pool's servers share its prompts).
      promptTokensPerSecond: this.promptTokensPerSecond(endpoint.name) / servers.length,
    };
  }

  /** One server's load: its own ledger, raised by its own engine reading while that is fresh. */
  private serverLoad(endpoint: Endpoint, key: LoadKey, nowMs: number): EndpointLoad {
    const ledger = this.ledger.counts(key);
    const state = this.engines.get(key);
    const reading = state?.reading;
    const fresh =
      reading !== undefined &&
      state?.consecutiveFailures === 0 &&
      nowMs - reading.atMs <= this.fleet.routing.load.staleAfterMs;
    let inFlight = ledger.inFlight;
    let prefillWaitingTokens = ledger.prefillWaitingTokens;
    let engineWaiting = 0;
    if (fresh) {
      // Other clients may use the engine too: its count only ever raises ours.
      // Requests this gateway saw end after the reading are gone from the engine too: a reading
      // a scrape interval old must not hold a freed endpoint busy until the next scrape.
      const endedSince = Math.max(0, ledger.dispatched - ledger.inFlight - (state?.endedAtReading ?? 0));
      inFlight = Math.max(inFlight, reading.running + reading.waiting - endedSince);
      engineWaiting = Math.max(0, reading.waiting - endedSince);
      const promptTokens = this.recent.get(endpoint.name)?.promptTokens ?? 0;
      prefillWaitingTokens = Math.max(prefillWaitingTokens, reading.waiting * promptTokens);
    }
    const engineSlots = reading?.slots;
    const slots =
      engineSlots !== undefined ? Math.min(engineSlots, endpoint.maxConcurrency) : endpoint.maxConcurrency;
    const saturated =
      engineWaiting > 0 ||
      inFlight >= slots ||
      (fresh && reading.kvCacheUsage !== undefined && reading.kvCacheUsage >= KV_SATURATED);
    return {
      inFlight,
      prefillWaitingTokens,
      slots,
      ledger,
      engine: reading,
      engineStale: !fresh,
      saturated,
      promptTokensPerSecond: this.promptTokensPerSecond(endpoint.name),
    };
  }

  /** The window the prompt-token rate decays over: a request's mean service time (≥ 250 ms). */
  private rateWindowMs(endpoint: string): number {
    return Math.max(250, this.models.get(endpoint)?.serviceMs ?? 1000);
  }

  /**
   * Nothing sent to it for two service times (at least a second): its predictions have had no
   * traffic to correct them (the decision then tries it again when it is idle).
   */
  untried(endpoint: string): boolean {
    const r = this.promptRate.get(endpoint);
    const windowMs = Math.max(1000, 2 * this.rateWindowMs(endpoint));
    return r !== undefined && performance.now() - r.atMs > windowMs;
  }

  private promptTokensPerSecond(endpoint: string): number {
    const r = this.promptRate.get(endpoint);
    if (!r) return 0;
    const windowMs = this.rateWindowMs(endpoint);
    return r.perSecond * Math.exp(-Math.max(0, performance.now() - r.atMs) / windowMs);
  }

  private countPrompt(endpoint: string, tokens: number): void {
    const windowMs = this.rateWindowMs(endpoint);
    this.promptRate.set(endpoint, {
      perSecond: this.promptTokensPerSecond(endpoint) + (tokens * 1000) / windowMs,
      atMs: performance.now(),
    });
  }

  /** ρ: the share of the engine's time prefill takes at this rate of prompt tokens (the TTFT model's cost per token). */
  private prefillShareOf(endpoint: string, promptTokensPerSecond: number): number {
    const m = this.models.get(endpoint);
    return m ? prefillShare(promptTokensPerSecond, m.correction * m.prefillMsPerToken) : 0;
  }

  predict(endpoint: Endpoint, promptTokens: number, load = this.load(endpoint)) {
    const model = this.models.get(endpoint.name) ?? priorTtftModel(this.fleet, endpoint);
    return predictTtft(model, load, promptTokens);
  }

  /**
   * Count a request at the moment it is dispatched; the ticket releases it. With `requestId`, the
   * load it decodes under is remembered until its record arrives (observeRecord), which teaches
   * the decode-rate model.
   */
  dispatch(endpoint: Endpoint, info: DispatchInfo, requestId?: string): LoadTicket {
    const at = this.load(endpoint);
    const figures: LoadFigures = {
      inFlight: at.inFlight,
      prefillWaitingTokens: at.prefillWaitingTokens,
      slots: at.slots,
    };
    const prediction = endpoint.kind === 'chat' ? this.predict(endpoint, info.promptTokens, at) : undefined;
    const decodePrediction = requestId !== undefined ? this.predictDecode(endpoint, at) : undefined;
    const pending: PendingDecode | undefined = decodePrediction && {
      endpoint: endpoint.name,
      prediction: decodePrediction,
      inFlightSum: 0,
      prefillShareSum: 0,
      inFlightSamples: 0,
    };
    const sampleLoad = (): void => {
      if (!pending) return;
      pending.inFlightSum += this.ledger.counts(loadKey(endpoint.name)).inFlight;
      pending.prefillShareSum += this.prefillShareOf(
        endpoint.name,
        this.promptTokensPerSecond(endpoint.name),
      );
      pending.inFlightSamples += 1;
    };
    this.countPrompt(endpoint.name, info.promptTokens);
    const ticket = this.ledger.dispatch(loadKey(endpoint.name), info);
    const startedMs = performance.now();
    let ttft: number | undefined;
    return {
      prediction,
      firstToken: (ttftMs) => {
        if (ttft !== undefined) return;
        ttft = ttftMs;
        ticket.firstToken();
        sampleLoad();
        const r = this.recent.get(endpoint.name);
        if (prediction && r && ttftMs > 0) {
          r.predicted += 1;
          if (ttftMs <= prediction.p95Ms) r.withinP95 += 1;
          if (ttftMs <= prediction.p99Ms) r.withinP99 += 1;
          const logRatio = Math.log(ttftMs / prediction.medianMs);
          r.absLogErrorSum += Math.abs(logRatio);
          pushBounded(r.ttftLogRatios, logRatio);
        }
        this.progressMs.set(endpoint.name, this.now());
        this.learn(endpoint, info.promptTokens, figures, ttftMs);
      },
      end: () => {
        if (ttft !== undefined && pending && requestId !== undefined) {
          // Sampled before this request leaves the ledger, as at its first token: it was decoding too.
          sampleLoad();
          this.pendingDecode.delete(requestId);
          this.pendingDecode.set(requestId, pending);
          if (this.pendingDecode.size > PENDING_LIMIT) {
            const oldest = this.pendingDecode.keys().next().value;
            if (oldest !== undefined) this.pendingDecode.delete(oldest);
          }
        }
        ticket.end();
        if (ttft !== undefined) {
          const model = this.models.get(endpoint.name);
          if (model) {
            const serviceMs = performance.now() - startedMs;
            this.models.set(endpoint.name, {
              ...model,
              serviceMs: model.serviceMs + 0.04 * (serviceMs - model.serviceMs),
            });
          }
        }
      },
    };
  }

  /**
   * A request's record, once its rates are known: its decode rate (the measure's one definition)
   * against the mean load while it decoded teaches the decode model of the endpoint that served it.
   */
  observeRecord(record: RequestRecord): void {
    const pending = this.pendingDecode.get(record.id);
    if (!pending) return;
    this.pendingDecode.delete(record.id);
    const rate = record.decodeTokensPerSecond;
    if (record.outcome !== 'ok' || record.endpoint !== pending.endpoint || rate === undefined || !(rate > 0))
      return;
    const model = this.decodeModels.get(pending.endpoint);
    if (!model || pending.inFlightSamples === 0) return;
    const inFlight = pending.inFlightSum / pending.inFlightSamples;
    const share = pending.prefillShareSum / pending.inFlightSamples;
    this.decodeModels.set(
      pending.endpoint,
      updateDecodeModel(model, { tokensPerSecond: rate, inFlight, prefillShare: share }),
    );
    const r = this.recent.get(pending.endpoint);
    if (r) {
      r.decodePredicted += 1;
      if (rate >= pending.prediction.p05TokensPerSecond) r.decodeAboveP05 += 1;
      pushBounded(r.decodeLogRatios, Math.log(rate / pending.prediction.medianTokensPerSecond));
    }
  }

  private learn(endpoint: Endpoint, promptTokens: number, figures: LoadFigures, ttftMs: number): void {
    if (endpoint.kind !== 'chat') return;
    const model = this.models.get(endpoint.name);
    if (model)
      this.models.set(endpoint.name, updateTtftModel(model, { promptTokens, load: figures, ttftMs }));
    const r = this.recent.get(endpoint.name);
    if (r) {
      r.ttftMs = r.ttftMs === undefined ? ttftMs : r.ttftMs + RECENT_WEIGHT * (ttftMs - r.ttftMs);
      r.ttftSamples += 1;
      r.promptTokens += RECENT_WEIGHT * (promptTokens - r.promptTokens);
    }
  }

  /** Scrape every engine that has load metrics, every `scrapeIntervalMs`. */
  start(env: NodeJS.ProcessEnv): void {
    const intervalMs = this.fleet.routing.load.scrapeIntervalMs;
    const targets = this.fleet.endpoints.filter(
      (e) => e.status === 'running' && e.url !== undefined && scrapes(e),
    );
    if (intervalMs <= 0 || targets.length === 0 || this.timer) return;
    // Its own connections: a slow /metrics never holds a socket that requests wait for.
    const pools = scrapeDispatcher(env, Math.max(250, intervalMs));
    this.dispatcher = pools;
    const tick = (): void => {
      if (this.scraping) return;
      this.scraping = true;
      const servers = targets.flatMap((e) => serversOf(e));
      void Promise.all(servers.map((t) => this.scrapeOne(pools, t.key, t.server, intervalMs))).finally(() => {
        this.scraping = false;
      });
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    void this.dispatcher?.close().catch(() => undefined);
    this.dispatcher = undefined;
  }

  private async scrapeOne(
    pools: Dispatcher,
    key: LoadKey,
    server: Endpoint,
    intervalMs: number,
  ): Promise<void> {
    const before = this.engines.get(key);
    const lastAttemptMs = this.now();
    try {
      const reading = await scrapeEngine(
        pools,
        server,
        this.now,
        before?.reading?.slots,
        Math.max(250, intervalMs),
      );
      const c = this.ledger.counts(key);
      this.engines.set(key, {
        reading,
        lastAttemptMs,
        consecutiveFailures: 0,
        endedAtReading: c.dispatched - c.inFlight,
      });
      this.onScrape?.();
    } catch (error) {
      this.engines.set(key, {
        reading: before?.reading,
        endedAtReading: before?.endedAtReading,
        lastAttemptMs,
        lastError: error instanceof Error ? error.message : String(error),
        consecutiveFailures: (before?.consecutiveFailures ?? 0) + 1,
      });
    }
  }

  /**
   * Whether a failure is load rather than a fault: a TTFT timeout or an overload answer on an
   * endpoint that was saturated when the request was dispatched, and that is alive — its engine
   * metrics answer, or it produced a first token within the last two TTFT timeouts. A hung engine
   * with a full ledger makes no progress, so it is still judged down.
   */
  isLoad(endpoint: Endpoint, atDispatch: EndpointLoad, cause: string, nowMs: number): boolean {
    if (cause !== 'ttft_timeout' && cause !== 'overloaded') return false;
    if (!atDispatch.saturated) return false;
    if (!atDispatch.engineStale) return true;
    const progress = this.progressMs.get(endpoint.name);
    return progress !== undefined && nowMs - progress <= 2 * endpoint.timeouts.ttftTimeoutMs;
  }

  predictorError(endpoint: string): PredictorError {
    const r = this.recent.get(endpoint);
    const n = r?.predicted ?? 0;
    return {
      samples: n,
      withinP95: r && n ? r.withinP95 / n : null,
      withinP99: r && n ? r.withinP99 / n : null,
      meanFactorError: r && n ? Math.exp(r.absLogErrorSum / n) - 1 : null,
      medianRatio: r ? medianOf(r.ttftLogRatios) : null,
      decodeSamples: r?.decodePredicted ?? 0,
      decodeAboveP05: r && r.decodePredicted ? r.decodeAboveP05 / r.decodePredicted : null,
      decodeMedianRatio: r ? medianOf(r.decodeLogRatios) : null,
    };
  }

  engineState(endpoint: string): EngineState | undefined {
    return this.engines.get(endpoint);
  }

  /** The scrape's standing for an endpoint; a pool's is its worst replica's. */
  private scrapeState(endpoint: Endpoint): EngineState | undefined {
    const states = serversOf(endpoint).map((server) => this.engines.get(server.key));
    if (states.length === 1) return states[0];
    const failing = states.filter((x) => (x?.consecutiveFailures ?? 0) > 0);
    return {
      consecutiveFailures: Math.max(0, ...failing.map((x) => x?.consecutiveFailures ?? 0)),
      ...(failing[0]?.lastError !== undefined ? { lastError: failing[0].lastError } : {}),
    };
  }

  /** GET /fleet/load. */
  snapshot(): unknown {
    const nowMs = this.now();
    const settings = this.fleet.routing.load;
    return {
      policy: settings.policy,
      headroom: settings.headroom,
      batchHeadroom: settings.batchHeadroom,
      scrapeIntervalMs: settings.scrapeIntervalMs,
      staleAfterMs: settings.staleAfterMs,
      admission: settings.admission,
      endpoints: this.fleet.endpoints
        .filter((e) => e.status === 'running' && e.url !== undefined)
        .map((e) => {
          const load = this.load(e, nowMs);
          const state = this.scrapeState(e);
          const model = this.models.get(e.name);
          const p = this.predict(e, this.fleet.calibration.promptTokens, load);
          const recent = this.recent.get(e.name);
          const decodeModel = this.decodeModels.get(e.name);
          const decode = this.predictDecode(e, load);
          return {
            name: e.name,
            kind: e.kind,
            inFlight: load.inFlight,
            prefillWaitingTokens: load.prefillWaitingTokens,
            promptTokensPerSecond: round(load.promptTokensPerSecond),
            prefillShare: round(this.prefillShareOf(e.name, load.promptTokensPerSecond), 3),
            slots: load.slots ?? null,
            saturated: load.saturated,
            ledger: { ...load.ledger },
            engine: scrapes(e) ? engineFigures(load, state, nowMs) : null,
            ...(load.replicas
              ? {
                  replicas: serversOf(e).map((server, i) => {
                    const r = load.replicas?.[i] as EndpointLoad;
                    return {
                      id: server.id,
                      url: server.server.url,
                      inFlight: r.inFlight,
                      prefillWaitingTokens: r.prefillWaitingTokens,
                      slots: r.slots ?? null,
                      saturated: r.saturated,
                      ledger: { ...r.ledger },
                      engine: scrapes(e) ? engineFigures(r, this.engines.get(server.key), nowMs) : null,
                    };
                  }),
                }
              : {}),
            recent: { ttftMs: recent?.ttftMs ?? null, samples: recent?.ttftSamples ?? 0 },
            predictorError: this.predictorError(e.name),
            prediction: {
              promptTokens: this.fleet.calibration.promptTokens,
              p95Ms: Math.round(p.p95Ms),
              p99Ms: Math.round(p.p99Ms),
              targetP95Ms: e.slo.ttft?.p95Ms ?? null,
              targetP99Ms: e.slo.ttft?.p99Ms ?? null,
              decodeTokensPerSecond: decode ? round(decode.medianTokensPerSecond) : null,
              sustainedTokensPerSecond: e.slo.throughput.sustainedTokensPerSecond ?? null,
            },
            model: model
              ? {
                  source: model.source,
                  overheadMs: round(model.overheadMs),
                  prefillMsPerToken: round(model.prefillMsPerToken, 4),
                  sigma: round(model.sigma, 3),
                  correction: round(model.correction, 3),
                  loadMsPerSequence: round(model.loadMsPerSequence, 3),
                  serviceMs: round(model.serviceMs),
                  observations: model.observations,
                }
              : null,
            decodeModel: decodeModel
              ? {
                  source: decodeModel.source,
                  baseGapMs: round(decodeModel.baseGapMs, 2),
                  gapPerSequenceMs: round(decodeModel.gapPerSequenceMs, 3),
                  sigma: round(decodeModel.sigma, 3),
                  observations: decodeModel.observations,
                }
              : null,
          };
        }),
    };
  }
}

function engineFigures(load: EndpointLoad, state: EngineState | undefined, nowMs: number) {
  const reading = load.engine;
  return {
    stale: load.engineStale,
    ageMs: reading ? nowMs - reading.atMs : null,
    running: reading?.running ?? null,
    waiting: reading?.waiting ?? null,
    kvCacheUsage: reading?.kvCacheUsage ?? null,
    consecutiveFailures: state?.consecutiveFailures ?? 0,
    lastError: state?.lastError ?? null,
  };
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
