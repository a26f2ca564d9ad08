// One simulated endpoint: an HTTP server on loopback that speaks one dialect, with its lifecycle
// (loading, down, flapping, engine dead), the sequence slots and waiting queue, the prefix cache,
// the fault picker, metrics and the ground-truth log. Request handling lives in chat-handler.ts,
// embeddings-handler.ts and info-routes.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Dialect, EndpointKind } from '../fleet/types.ts';
import { isLoopbackHost } from '../upstream/guard.ts';
import { authRefusal } from './auth.ts';
import { handleChat } from './chat-handler.ts';
import { nowMs, toEpochMs } from './clock.ts';
import type { EngineJob, EngineTicket } from './engine/batch-engine.ts';
import { BatchEngine } from './engine/batch-engine.ts';
import { REAL_CLOCK } from './engine/engine-clock.ts';
import { EmbedBatcher, TEI_MAX_BATCH_TOKENS } from './engine/embed-batcher.ts';
import type { EngineSettings } from './engine/engine-config.ts';
import { engineCost, engineLimits } from './engine/engine-config.ts';
import { handleEmbeddings } from './embeddings-handler.ts';
import type { WireError } from './errors-wire.ts';
import { dialectError, injectedStatusError } from './errors-wire.ts';
import type { FaultSpec } from './faults.ts';
import { FaultPicker, FaultSyntaxError, parseFaults } from './faults.ts';
import { mulberry32 } from './generator.ts';
import { handleInfoRoute } from './info-routes.ts';
import type { LatencyModel } from './latency.ts';
import { embeddingBatchMedianMs, latencyModel, logNormalFactor, sigmaForP99Ratio } from './latency.ts';
import { SimMetrics } from './metrics.ts';
import { SlotTable } from './slots.ts';
import type { SimRequestTruth, TruthDraft } from './truth.ts';
import type { VllmReasoningParser } from './reasoning-split.ts';
import { atLeast, DEFAULT_VERSIONS } from './version.ts';

export interface SimEndpointOptions {
  dialect: Dialect;
  /** Served model id (vLLM --served-model-name, llama.cpp alias, TEI served_model_name). */
  model: string;
  kind?: EndpointKind;
  /** Default '127.0.0.1'. Only loopback addresses are accepted. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** vLLM max_model_len / llama.cpp n_ctx / TEI max_input_length. */
  contextWindowTokens?: number;
  /** Emits reasoning tokens before the content. */
  reasoning?: boolean;
  /** vLLM `--reasoning-parser` of a reasoning model: how a continued answer is split (default deepseek_r1). */
  reasoningParser?: VllmReasoningParser;
  /** Output text and jitter are deterministic functions of the seed (default 0). */
  seed?: number;
  latency?: Partial<LatencyModel>;
  /** Batching limits beyond `latency.maxNumSeqs`: token budget, KV cache (see engine-config.ts). */
  engine?: EngineSettings;
  faults?: FaultSpec[];
  /**
   * Loading phase: llama.cpp answers 503 "Loading model"; vLLM, TEI and mlx_lm ≤ 0.31.2 refuse
   * connections; mlx_lm ≥ 0.31.3 accepts them and holds requests until loaded.
   */
  startupMs?: number;
  /** Server version, e.g. vLLM '0.11.0' (selects the reasoning key and error wording). */
  version?: string;
  /**
   * Further model ids this server answers to: vLLM `--lora-modules` adapters (listed in
   * /v1/models with the base as parent), repos mlx_lm finds in its cache and loads by name, the
   * models of a llama.cpp router. Any other id is refused as the server refuses it.
   */
  models?: readonly string[];
  /**
   * llama.cpp `sse_ping_interval`: once a stream has started, a `:` comment is written whenever
   * nothing else was for this long (default 0: off, as in builds without the option).
   */
  ssePingIntervalMs?: number;
  /**
   * Tokens per streamed event (default 1). The first token still goes out alone (the prefill step
   * yields one token); after it each event carries this many tokens, as with speculative decoding
   * (vLLM, llama.cpp draft models) or a server that batches its stream writes. `usage` still counts
   * every token, so a client that counts events undercounts by about this factor.
   */
  tokensPerChunk?: number;
  /**
   * A server that reads `ignore_eos` and `min_tokens` but does not act on them (an older build, a
   * proxy that drops unknown fields): answers end where the model stops, with finish `stop`.
   */
  ignoresForcedLength?: boolean;
  /**
   * The model's natural answer length in content tokens (default: drawn per answer). A small value
   * is a model that stops early; it only shows when the output length is not forced.
   */
  naturalAnswerTokens?: number;
  /**
   * Whether `usage` is sent (default true): false is a server that never reports token counts —
   * no usage chunk even with `stream_options.include_usage`, no `usage` in a whole body.
   */
  sendsUsage?: boolean;
  /**
   * The server's tokenizer counts this many tokens per simulator token in prompts (default 1):
   * usage.prompt_tokens, context checks, prefill time and /tokenize all use the scaled count, as a
   * server whose tokenizer differs from the client's estimate does. Output tokens are not rescaled.
   */
  promptTokenRatio?: number;
  /**
   * llama.cpp `/slots` (default true; false = `--no-slots`: the route answers 501 as the real
   * server does).
   */
  slotsEndpoint?: boolean;
  /** Embedding vector length (default 1024). */
  embeddingDimension?: number;
  /** Ground-truth records kept (oldest dropped first; default 10,000). */
  maxTruthRecords?: number;
  /** Endpoint name in a fleet (for messages and truth records). */
  name?: string;
  /**
   * The server's `--api-key`: requests without it are refused as that server refuses them
   * (auth.ts: which paths are guarded, which header, what body). mlx_lm has no such option.
   */
  apiKey?: string;
  /**
   * mlx_lm only: further body fields its validation refuses by closing the connection, as a newer
   * mlx_lm checking a field the gateway does not know would (the gateway's own checks cover every
   * field the released servers validate, so only this mode reaches the gateway's fallback for it).
   */
  refuseFields?: readonly string[];
}

export interface SimServer {
  readonly url: string;
  readonly port: number;
  readonly options: SimEndpointOptions;
  /** Replaces the active faults (also POST /admin/faults on the endpoint, loopback only). */
  setFaults(faults: FaultSpec[]): void;
  faults(): readonly FaultSpec[];
  /** One record per finished request, oldest first (the last `maxTruthRecords`, default 10,000). */
  groundTruth(): readonly SimRequestTruth[];
  clearGroundTruth(): void;
  close(): Promise<void>;
}

/** Each record keeps its token times (~8 KB for 256 tokens): bound the log for long-running sims. */
const DEFAULT_MAX_TRUTH_RECORDS = 10_000;
const DEFAULT_CONTEXT_TOKENS = 32_768;
const DEFAULT_EMBEDDING_DIMENSION = 1024;
/** mlx_lm and vLLM read any body; TEI's axum payload limit is 2 MB. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const TEI_MAX_BODY_BYTES = 2_000_000;

export async function startSimEndpoint(options: SimEndpointOptions): Promise<SimServer> {
  const endpoint = new SimEndpoint(options);
  await endpoint.start();
  return endpoint;
}

/** The state request handlers work with. */
export class SimEndpoint implements SimServer {
  readonly options: SimEndpointOptions;
  readonly dialect: Dialect;
  readonly kind: EndpointKind;
  readonly model: string;
  /** `model` and the extra ids of `SimEndpointOptions.models`. */
  readonly models: readonly string[];
  readonly version: string;
  readonly contextWindowTokens: number;
  readonly reasoning: boolean;
  readonly reasoningParser: VllmReasoningParser;
  readonly seed: number;
  readonly latency: LatencyModel;
  readonly embeddingDimension: number;
  readonly tokensPerChunk: number;
  /** The sequence slots as llama.cpp's /slots shows them (one per maxNumSeqs). */
  readonly slotTable: SlotTable;
  readonly metrics = new SimMetrics();
  /** Seeded source for jitter and fault fractions. */
  readonly rand: () => number;
  private readonly picker: FaultPicker;
  private readonly host: string;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private truths: SimRequestTruth[] = [];
  private listening = false;
  private closed = false;
  private loadingUntilMs = 0;
  /** mlx_lm ≥ 0.31.3 start-up: requests are accepted but generation waits until then. */
  private generationReadyAtMs = 0;
  /** vLLM / TEI / mlx_lm start-up: the listener stays closed until then. */
  private refuseUntilMs = 0;
  private transition: Promise<void> = Promise.resolve();
  private timers = new Set<NodeJS.Timeout>();
  private endpointFaultTimers = new Set<NodeJS.Timeout>();
  private deadFault = false;
  private bound = 0;
  /** Continuous batching of chat and completion requests (undefined for TEI). */
  readonly engine: BatchEngine | undefined;
  /**
   * Prefix cache: message-prefix hash → its tokens and the tokens it adds to the prefix before it,
   * in LRU order; `prefixCacheTokens` sums what the entries add (the KV they would hold).
   */
  private readonly prefixCache = new Map<number, { readonly tokens: number; readonly own: number }>();
  private prefixCacheTokens = 0;
  /** Embeddings: one batch at a time, queued requests sharing the next (TEI's batching). */
  readonly embedBatcher: EmbedBatcher;
  embeddingInputsInFlight = 0;
  /** Responses kept open on purpose (hang, stall) so close() can end them. */
  readonly held = new Set<ServerResponse>();
  /** Cancels for in-flight simulated work, run on close(). */
  readonly inFlight = new Set<() => void>();

  constructor(options: SimEndpointOptions) {
    this.options = options;
    this.dialect = options.dialect;
    this.kind = options.kind ?? (options.dialect === 'tei' ? 'embeddings' : 'chat');
    this.model = options.model;
    this.models = [options.model, ...(options.models ?? [])];
    this.version = options.version ?? DEFAULT_VERSIONS[options.dialect];
    this.contextWindowTokens = options.contextWindowTokens ?? DEFAULT_CONTEXT_TOKENS;
    this.reasoning = options.reasoning ?? false;
    this.reasoningParser = options.reasoningParser ?? 'deepseek_r1';
    this.seed = options.seed ?? 0;
    this.latency = latencyModel(options.latency);
    this.embeddingDimension = options.embeddingDimension ?? DEFAULT_EMBEDDING_DIMENSION;
    this.tokensPerChunk = options.tokensPerChunk ?? 1;
    this.slotTable = new SlotTable(this.dialect === 'llamacpp' ? this.latency.maxNumSeqs : 1);
    const ratio = options.promptTokenRatio ?? 1;
    if (!(ratio > 0) || !Number.isFinite(ratio))
      throw new RangeError(`promptTokenRatio must be a positive number, not ${ratio}`);
    if (!Number.isInteger(this.tokensPerChunk) || this.tokensPerChunk < 1) {
      throw new RangeError(`tokensPerChunk must be a whole number ≥ 1, not ${this.tokensPerChunk}`);
    }
    this.rand = mulberry32(this.seed ^ 0x5eed);
    this.picker = new FaultPicker(mulberry32(this.seed ^ 0xfa17));
    const embedRand = mulberry32(this.seed ^ 0xe3bd);
    this.embedBatcher = new EmbedBatcher(
      options.engine?.maxBatchTokens ?? TEI_MAX_BATCH_TOKENS,
      (inputs) =>
        embeddingBatchMedianMs(this.latency, inputs) *
        logNormalFactor(embedRand, sigmaForP99Ratio(this.latency.ttftJitterP99Ratio)),
      REAL_CLOCK,
      (queued) => {
        if (this.dialect === 'tei') this.metrics.waiting = queued;
      },
    );
    if (this.dialect !== 'tei') {
      const limits = engineLimits(
        this.dialect,
        this.version,
        this.latency,
        this.contextWindowTokens,
        options.engine,
      );
      this.engine = new BatchEngine(
        limits,
        engineCost(this.latency, limits),
        REAL_CLOCK,
        mulberry32(this.seed ^ 0xba7c),
        this.metrics,
      );
    }
    if (options.refuseFields !== undefined && this.dialect !== 'mlx')
      throw new RangeError('refuseFields models mlx_lm, which closes the connection on a refused value');
    if (options.apiKey !== undefined && this.dialect === 'mlx')
      throw new RangeError('mlx_lm.server has no --api-key: put a key-checking proxy in front of it');
    this.host = options.host ?? '127.0.0.1';
    if (!isLoopbackHost(this.host)) {
      throw new RangeError(`the simulator listens on loopback only, not on ${this.host}`);
    }
    this.server = createServer({ keepAliveTimeout: 5_000, noDelay: true }, (req, res) =>
      this.onRequest(req, res),
    );
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get port(): number {
    return this.bound;
  }

  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.bound}`;
  }

  async start(): Promise<void> {
    await this.listen(this.options.port ?? 0);
    const startupMs = this.options.startupMs ?? 0;
    if (startupMs > 0) {
      if (this.dialect === 'llamacpp') {
        // llama-server listens before it loads and answers 503 "Loading model" meanwhile.
        this.loadingUntilMs = nowMs() + startupMs;
      } else if (this.dialect === 'mlx' && atLeast(this.version, '0.31.3')) {
        // mlx_lm ≥ 0.31.3 opens the socket at once: /health says ok, requests wait for the model.
        this.generationReadyAtMs = nowMs() + startupMs;
      } else {
        // vLLM, TEI and mlx_lm (≤ 0.31.2) bind only after the model is loaded: refuse until then.
        this.refuseUntilMs = nowMs() + startupMs;
        await this.unlisten();
        this.later(startupMs, () => {
          if (!this.picker.list().some((f) => f.kind === 'down' || f.kind === 'flap')) void this.relisten();
        });
      }
    }
    this.setFaults(this.options.faults ?? []);
  }

  setFaults(faults: FaultSpec[]): void {
    this.picker.set(faults);
    for (const t of this.endpointFaultTimers) clearTimeout(t);
    this.endpointFaultTimers.clear();
    this.deadFault = faults.some((f) => f.kind === 'dead');
    const down = faults.find((f) => f.kind === 'down');
    const flap = faults.find((f) => f.kind === 'flap');
    if (down) {
      void this.unlisten();
      if (down.downMs !== undefined) {
        this.faultTimer(down.downMs, () => this.setFaults(this.picker.list().filter((f) => f !== down)));
      }
    } else if (flap) {
      this.startFlapping(flap.downMs ?? 5_000, flap.periodMs ?? 30_000);
    } else if (!this.closed && nowMs() >= this.refuseUntilMs) {
      void this.relisten();
    }
  }

  faults(): readonly FaultSpec[] {
    return this.picker.list();
  }

  groundTruth(): readonly SimRequestTruth[] {
    return this.truths;
  }

  clearGroundTruth(): void {
    this.truths = [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.engine?.stop();
    this.embedBatcher.stop();
    for (const t of [...this.timers, ...this.endpointFaultTimers]) clearTimeout(t);
    for (const cancel of [...this.inFlight]) cancel();
    for (const res of this.held) res.destroy();
    await this.unlisten();
    for (const s of this.sockets) s.destroy();
  }

  // ---- used by handlers ----

  /** Picks the request-level fault for this request (x-sim-fault header first). */
  pickFault(req: IncomingMessage, isInference: boolean): FaultSpec | undefined {
    const header = req.headers['x-sim-fault'];
    let extra: FaultSpec[] = [];
    if (typeof header === 'string' && header !== '') {
      try {
        extra = parseFaults(header);
      } catch {
        extra = [];
      }
    }
    return this.picker.pick(isInference, extra);
  }

  /**
   * Hands a request to the engine. While mlx_lm ≥ 0.31.3 is still loading, generation waits for
   * the model (the request is accepted and held).
   */
  submit(job: EngineJob): EngineTicket {
    const engine = this.engine;
    if (engine === undefined) throw new Error(`${this.dialect} has no generation engine`);
    const loadingMs = this.generationReadyAtMs - nowMs();
    if (loadingMs <= 0) return engine.submit(job);
    let inner: EngineTicket | undefined;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      inner = engine.submit(job);
    }, loadingMs);
    this.timers.add(timer);
    return {
      release: () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        inner?.release();
      },
    };
  }

  /**
   * Longest cached prefix of these message prefixes (block-rounded), and remembers them, as vLLM's
   * automatic prefix caching does: a hit is a chain of cached blocks from the prompt's start (a
   * prefix counts only while every shorter one is cached too); cached blocks live in the KV cache,
   * so what it holds is bounded by the KV capacity (the engine's blocks × block size) and evicted
   * least recently used first; a request's blocks are freed tail first, so its longer prefixes go
   * before the shared one. Without a KV model (llama.cpp, mlx_lm) at most 10,000 prefixes are kept.
   */
  cachedPromptTokens(prefixes: readonly { hash: number; tokens: number }[]): number {
    const block = this.latency.prefixCacheBlockTokens;
    if (block <= 0) return 0;
    let cached = 0;
    for (const p of prefixes) {
      const hit = this.prefixCache.get(p.hash);
      if (hit === undefined) break;
      cached = Math.floor(hit.tokens / block) * block;
    }
    let before = 0;
    const entries = prefixes.map((p) => {
      const own = Math.max(0, p.tokens - before);
      before = p.tokens;
      return { hash: p.hash, tokens: p.tokens, own };
    });
    for (const e of entries.reverse()) {
      const old = this.prefixCache.get(e.hash);
      if (old) {
        this.prefixCache.delete(e.hash);
        this.prefixCacheTokens -= old.own;
      }
      this.prefixCache.set(e.hash, { tokens: e.tokens, own: e.own });
      this.prefixCacheTokens += e.own;
    }
    const limits = this.engine?.limits;
    const capacityTokens =
      limits && Number.isFinite(limits.kvCacheBlocks)
        ? limits.kvCacheBlocks * limits.blockSizeTokens
        : Infinity;
    while (this.prefixCache.size > 10_000 || this.prefixCacheTokens > capacityTokens) {
      const oldest = this.prefixCache.entries().next().value;
      if (oldest === undefined) break;
      this.prefixCache.delete(oldest[0]);
      this.prefixCacheTokens -= oldest[1].own;
    }
    return cached;
  }

  recordTruth(draft: TruthDraft): void {
    this.truths.push(draft);
    const max = this.options.maxTruthRecords ?? DEFAULT_MAX_TRUTH_RECORDS;
    if (this.truths.length > max) this.truths.splice(0, this.truths.length - max);
  }

  newTruth(req: IncomingMessage, id: string, path: string, arrivalMs: number, stream: boolean): TruthDraft {
    const clientRequestId = req.headers['x-request-id'];
    return {
      id,
      endpoint: this.options.name,
      clientRequestId: typeof clientRequestId === 'string' ? clientRequestId : undefined,
      path,
      stream,
      arrivalMs: toEpochMs(arrivalMs),
      queueMs: 0,
      promptTokens: 0,
      cachedPromptTokens: 0,
      completionTokens: 0,
      reasoningTokens: 0,
      tokenTimesMs: [],
      tokenLatenessMs: [],
      status: 0,
      outcome: 'ok',
    };
  }

  /** A response id in the dialect's style. */
  responseId(prefix: 'chatcmpl' | 'cmpl' | 'embd', req: IncomingMessage): string {
    if (this.dialect === 'vllm') {
      const rid = req.headers['x-request-id'];
      return `${prefix}-${typeof rid === 'string' && rid !== '' ? rid : randomBytes(16).toString('hex')}`;
    }
    if (this.dialect === 'mlx') return `${prefix}-${randomUUID()}`;
    return `${prefix}-${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 32)}`;
  }

  sendError(res: ServerResponse, e: WireError): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(e.status, { 'content-type': e.contentType, ...e.headers });
    res.end(e.body);
  }

  sendJson(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** A request-level fault that acts before any header is written; true when it handled the request. */
  applyEarlyFault(
    req: IncomingMessage,
    res: ServerResponse,
    fault: FaultSpec | undefined,
    truth?: TruthDraft,
  ): boolean {
    if (fault === undefined) return false;
    const finish = (status: number): void => {
      if (!truth) return;
      truth.status = status;
      truth.outcome = 'fault';
      truth.fault = fault.kind;
      truth.endAtMs = toEpochMs(nowMs());
      this.recordTruth(truth);
    };
    switch (fault.kind) {
      case 'reset':
        finish(0);
        req.socket.resetAndDestroy();
        return true;
      case 'hang':
        finish(0);
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        return true;
      case 'http-500':
      case 'http-503':
      case 'http-429': {
        const status = Number(fault.kind.slice(5));
        finish(status);
        this.sendError(res, injectedStatusError(this.dialect, this.version, status, fault.retryAfterSeconds));
        return true;
      }
      case 'content-policy': {
        finish(400);
        // As an OpenAI-compatible moderation layer in front of the server answers (OpenAI's own
        // shape: a string code the client can act on), whatever the dialect behind it.
        this.sendJson(
          res,
          400,
          JSON.stringify({
            error: {
              message: 'Your request was rejected as a result of our safety system (simulated).',
              type: 'invalid_request_error',
              param: 'messages',
              code: 'content_policy_violation',
            },
          }),
        );
        return true;
      }
      default:
        return false;
    }
  }

  // ---- lifecycle internals ----

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const arrivalMs = nowMs();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/admin/')) {
      this.handleAdmin(req, res, path);
      return;
    }
    if (arrivalMs < this.loadingUntilMs) {
      this.sendError(res, dialectError('llamacpp', this.version, 503, 'Loading model', 'unavailable_error'));
      return;
    }
    const refused = authRefusal(this.dialect, this.options.apiKey, req, path);
    if (refused) {
      // Refused before the body is read, as the servers' middleware does.
      if (refused.body === '') {
        res.writeHead(401, { 'content-length': 0 });
        res.end();
      } else this.sendJson(res, refused.status, refused.body, refused.contentType);
      req.resume();
      return;
    }
    const isInference = req.method === 'POST' && INFERENCE_PATHS.has(path);
    if (this.deadFault) {
      this.answerDead(res, path);
      return;
    }
    if (!isInference) {
      const fault = this.pickFault(req, false);
      if (this.applyEarlyFault(req, res, fault)) return;
      handleInfoRoute(this, req, res, path);
      return;
    }
    if (this.dialect === 'mlx' && req.headers['content-length'] === undefined) {
      this.sendJson(res, 411, '{"error": "Content-Length header is required"}');
      return;
    }
    this.readBody(req, res, (body) => {
      if (path.endsWith('embeddings') || path === '/embed') {
        handleEmbeddings(this, req, res, path, body, arrivalMs);
      } else {
        handleChat(this, req, res, path, body, arrivalMs);
      }
    });
  }

  private readBody(req: IncomingMessage, res: ServerResponse, then: (body: string) => void): void {
    const limit = this.dialect === 'tei' ? TEI_MAX_BODY_BYTES : MAX_BODY_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (over) {
        // axum's DefaultBodyLimit answers 413 with a plain-text reason.
        res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('length limit exceeded');
        return;
      }
      then(Buffer.concat(chunks).toString('utf8'));
    });
  }

  private answerDead(res: ServerResponse, path: string): void {
    if (this.dialect === 'tei') {
      this.sendJson(res, 503, '{"error":"unhealthy","error_type":"Unhealthy"}');
      return;
    }
    if (path === '/health' || path === '/ping' || path === '/v1/health') {
      // vLLM's /health catches EngineDeadError: 503 with an empty body.
      res.writeHead(503, { 'content-length': 0 });
      res.end();
      return;
    }
    if (this.dialect === 'vllm') {
      res.writeHead(500, { 'content-length': 0 });
      res.end();
      return;
    }
    this.sendError(res, dialectError(this.dialect, this.version, 500, 'engine is dead (simulated)'));
  }

  private handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): void {
    const remote = req.socket.remoteAddress ?? '';
    if (!isLoopbackHost(remote)) {
      this.sendJson(res, 403, '{"error":"the admin API answers loopback clients only"}');
      return;
    }
    if (path === '/admin/faults' && req.method === 'GET') {
      this.sendJson(res, 200, JSON.stringify({ faults: this.picker.list() }));
      return;
    }
    if (path === '/admin/truth' && req.method === 'GET') {
      this.sendJson(res, 200, JSON.stringify({ requests: this.truths }));
      return;
    }
    if (path === '/admin/truth' && req.method === 'DELETE') {
      this.clearGroundTruth();
      this.sendJson(res, 200, '{"cleared":true}');
      return;
    }
    if (path === '/admin/faults' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const faults = parseAdminFaults(Buffer.concat(chunks).toString('utf8'));
          this.setFaults(faults);
          this.sendJson(res, 200, JSON.stringify({ faults }));
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          this.sendJson(res, 400, JSON.stringify({ error: message }));
        }
      });
      return;
    }
    this.sendJson(res, 404, '{"error":"unknown admin route"}');
  }

  private startFlapping(downMs: number, periodMs: number): void {
    const upMs = Math.max(0, periodMs - downMs);
    const cycle = (): void => {
      this.faultTimer(upMs, () => {
        void this.unlisten();
        this.faultTimer(downMs, () => {
          void this.relisten();
          cycle();
        });
      });
    };
    void this.relisten();
    cycle();
  }

  private faultTimer(ms: number, run: () => void): void {
    const t = setTimeout(() => {
      this.endpointFaultTimers.delete(t);
      run();
    }, ms);
    this.endpointFaultTimers.add(t);
  }

  private later(ms: number, run: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      run();
    }, ms);
    this.timers.add(t);
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port, host: this.host, exclusive: true }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        if (address && typeof address === 'object') this.bound = address.port;
        this.listening = true;
        resolve();
      });
    });
  }

  /** Closes the listener and drops every connection: clients see ECONNREFUSED / a reset. */
  private unlisten(): Promise<void> {
    this.transition = this.transition.then(
      () =>
        new Promise<void>((resolve) => {
          if (!this.listening) return resolve();
          this.listening = false;
          // Requests in flight die with the server (their truth says server-closed).
          for (const cancel of [...this.inFlight]) cancel();
          for (const res of this.held) res.destroy();
          this.server.close(() => resolve());
          this.server.closeAllConnections();
          for (const s of this.sockets) s.destroy();
        }),
    );
    return this.transition;
  }

  /** Opens the listener again on the same port. */
  private relisten(): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.listening || this.closed) return;
      await this.listen(this.bound).catch(() => undefined);
    });
    return this.transition;
  }
}

export const INFERENCE_PATHS: ReadonlySet<string> = new Set([
  '/v1/chat/completions',
  '/chat/completions',
  '/v1/completions',
  '/completions',
  '/v1/embeddings',
  '/embeddings',
  '/embed',
]);

function parseAdminFaults(text: string): FaultSpec[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return parseFaults(trimmed);
  const parsed = JSON.parse(trimmed) as unknown;
  const list = Array.isArray(parsed) ? parsed : (parsed as { faults?: unknown }).faults;
  if (typeof list === 'string') return parseFaults(list);
  if (!Array.isArray(list)) throw new FaultSyntaxError('expected {"faults": [...]} or a fault string');
  return list.map((f: unknown) => {
    if (typeof f === 'string') {
      const [one] = parseFaults(f);
      if (!one) throw new FaultSyntaxError('empty fault');
      return one;
    }
    if (typeof f === 'object' && f !== null && typeof (f as { kind?: unknown }).kind === 'string') {
      // Validate the kind through the parser, keep the numeric options as given.
      const [checked] = parseFaults((f as { kind: string }).kind);
      return { ...(f as FaultSpec), kind: (checked as FaultSpec).kind };
    }
    throw new FaultSyntaxError('each fault is a string like "503:retry-after=2" or an object with a kind');
  });
}
