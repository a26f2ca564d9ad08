// Continuous batching, one engine step at a time, as vLLM's v1 scheduler, llama-server's slot loop
// and mlx_lm's BatchGenerator do it. Each step: the running requests first, in the order they were
// admitted (a decoding request takes one token of the step's budget, a request still in prefill
// takes its next chunk), then — unless a preemption happened in this step — waiting requests in
// FCFS order while the token budget, the running cap and the KV cache allow. When a running request
// needs a KV block and none is free, the most recently admitted running request is preempted
// (vLLM's recompute: its blocks are freed, it goes back to the head of the waiting queue and later
// prefills its prompt and what it had generated again).
//
// Cost model of a step (all in ms):
//   duration = [stepOverhead + decodingSeqs × decodePerSeq] × stepJitter   (when anything decodes)
//            + Σ prefill tokens × prefillPerToken × the request's TTFT factor
// and a request admitted into the batch first spends its fixed TTFT part (fixedTtft × its TTFT
// factor: per-request work outside the step's token budget) holding its place and its KV, then
// prefills in chunks. At single-request load this gives
// TTFT = (fixedTtft + prompt × prefillPerToken) × factor exactly (the latency model's closed form)
// and an inter-token gap of stepOverhead + decodePerSeq; under load prefill and decode share the
// budget and the waiting queue grows, so TTFT and inter-token latency grow the way the servers' do.
import type { Scheduled } from '../clock.ts';
import { logNormalFactor } from '../latency.ts';
import type { EngineClock } from './engine-clock.ts';

export interface EngineLimits {
  /** Requests running at once: vLLM max_num_seqs, llama.cpp --parallel, mlx_lm --decode-concurrency. */
  readonly maxNumSeqs: number;
  /** Tokens one step processes: vLLM max_num_batched_tokens, llama.cpp --batch-size; Infinity: no budget. */
  readonly maxNumBatchedTokens: number;
  /** Prompt tokens one request prefills per step (mlx_lm --prefill-step-size); Infinity: the budget's. */
  readonly prefillChunkTokens: number;
  /** Requests in prefill at once (mlx_lm --prompt-concurrency); Infinity: no limit. */
  readonly maxConcurrentPrefills: number;
  /** KV-cache capacity in blocks (vLLM); Infinity: each slot holds its own context (llama.cpp, mlx_lm). */
  readonly kvCacheBlocks: number;
  /** Tokens per KV block (vLLM --block-size, 16). */
  readonly blockSizeTokens: number;
}

export interface EngineCost {
  /** Per-request time before the scheduler sees it (scaled ms, times the request's TTFT factor). */
  readonly fixedTtftMs: number;
  /** Fixed cost of a step that decodes (the weights read once per step). */
  readonly stepOverheadMs: number;
  /** Prefill cost per prompt token (times the request's TTFT factor). */
  readonly prefillMsPerToken: number;
  /** Added to a decoding step per token decoded. */
  readonly decodeMsPerToken: number;
  /** σ of the per-request TTFT factor (log-normal, median 1). */
  readonly ttftSigma: number;
  /** σ of the per-step jitter of decoding steps (log-normal, median 1). */
  readonly stepSigma: number;
}

export interface EngineJob {
  readonly promptTokens: number;
  /** Prompt tokens served from the prefix cache (block-aligned): not prefilled. */
  readonly cachedPromptTokens: number;
  /** Outputs this request needs: its completion tokens, plus one step for EOS on a natural stop; ≥ 1. */
  readonly outputs: number;
  /**
   * Per-request decode speed factor (median 1): below 1 the request sits out some steps, above 1 it
   * takes two tokens in some steps (as speculative decoding does), so requests decode at different
   * rates the way measured fleets show.
   */
  readonly rateFactor: number;
  /** Extra time before its prefill (the slow-first-token fault, a model still loading). */
  readonly extraDelayMs?: number;
  /** It was admitted into the batch; `queuedMs` is the time it spent in the waiting queue. */
  onStart(atMs: number, queuedMs: number): void;
  /** Output `index` (0-based) was produced by the step that ended at `atMs`. */
  onOutput(index: number, atMs: number): void;
  /** A prefill chunk ended: `doneTokens` of `totalTokens` (mlx_lm's keep-alive comments). */
  onPrefill?(doneTokens: number, totalTokens: number, atMs: number): void;
}

export interface EngineTicket {
  /** The request is gone (finished early, aborted, detached by a fault): frees its place and KV. */
  release(): void;
}

/** What the engine's state looks like right now (the servers' load gauges). */
export interface EngineLoad {
  readonly running: number;
  readonly waiting: number;
  /** Used KV blocks / all blocks (vLLM kv_cache_usage_perc); 0 when the KV cache is not modelled. */
  readonly kvCacheUsage: number;
  readonly preemptions: number;
}

/** Receives the gauges after every change (SimMetrics). */
export interface EngineGauges {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  preemptions: number;
}

/** Most tokens a fast request takes in one step. */
const MAX_TOKENS_PER_STEP = 2;

class Seq {
  readonly job: EngineJob;
  readonly ttftFactor: number;
  computed = 0;
  emitted = 0;
  credit = 0;
  blocks = 0;
  started = false;
  arrivedAtMs = 0;
  /** Admitted requests prefill from here on (their fixed TTFT part ends). */
  readyAtMs = 0;
  state: 'waiting' | 'running' | 'gone' = 'waiting';
  constructor(job: EngineJob, ttftFactor: number) {
    this.job = job;
    this.ttftFactor = ttftFactor;
  }
  /** Tokens whose KV must exist before the next output: the prompt and what it already generated. */
  get target(): number {
    return this.job.promptTokens + this.emitted;
  }
  get decoding(): boolean {
    return this.emitted > 0 && this.computed >= this.target - 1;
  }
}

interface Planned {
  readonly seq: Seq;
  readonly tokens: number;
  readonly decode: boolean;
}

export class BatchEngine {
  readonly limits: EngineLimits;
  readonly cost: EngineCost;
  private readonly clock: EngineClock;
  private readonly rand: () => number;
  private readonly gauges: EngineGauges | undefined;
  private running: Seq[] = [];
  private readonly waiting: Seq[] = [];
  private usedBlocks = 0;
  private preemptions = 0;
  private stepping = false;
  private stepTimer: Scheduled | undefined;
  /** Set while every running request is in its fixed TTFT part: the engine waits for the first. */
  private sleeping = false;

  constructor(
    limits: EngineLimits,
    cost: EngineCost,
    clock: EngineClock,
    rand: () => number,
    gauges?: EngineGauges,
  ) {
    if (!(limits.maxNumSeqs >= 1) || !(limits.maxNumBatchedTokens >= 1) || !(limits.prefillChunkTokens >= 1))
      throw new RangeError(
        'engine limits: maxNumSeqs, maxNumBatchedTokens and prefillChunkTokens must be ≥ 1',
      );
    if (!(limits.blockSizeTokens >= 1) || !(limits.kvCacheBlocks >= 1))
      throw new RangeError('engine limits: blockSizeTokens and kvCacheBlocks must be ≥ 1');
    this.limits = limits;
    this.cost = cost;
    this.clock = clock;
    this.rand = rand;
    this.gauges = gauges;
  }

  submit(job: EngineJob): EngineTicket {
    const seq = new Seq(job, logNormalFactor(this.rand, this.cost.ttftSigma));
    const now = this.clock.nowMs();
    seq.arrivedAtMs = now;
    this.waiting.push(seq);
    this.publish();
    if (!this.stepping || this.sleeping) this.wake(now);
    return { release: () => this.release(seq) };
  }

  load(): EngineLoad {
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      kvCacheUsage: this.kvUsage(),
      preemptions: this.preemptions,
    };
  }

  /** Stops stepping (the endpoint closed); requests in it get no more outputs. */
  stop(): void {
    if (this.stepTimer) this.stepTimer.cancelled = true;
    for (const seq of [...this.running, ...this.waiting]) seq.state = 'gone';
    this.running = [];
    this.waiting.length = 0;
    this.stepping = false;
  }

  private kvUsage(): number {
    return Number.isFinite(this.limits.kvCacheBlocks) ? this.usedBlocks / this.limits.kvCacheBlocks : 0;
  }

  private publish(): void {
    const g = this.gauges;
    if (!g) return;
    g.running = this.running.length;
    g.waiting = this.waiting.length;
    g.kvCacheUsage = this.kvUsage();
    g.preemptions = this.preemptions;
  }

  private release(seq: Seq): void {
    if (seq.state === 'gone') return;
    if (seq.state === 'waiting') {
      const i = this.waiting.indexOf(seq);
      if (i >= 0) this.waiting.splice(i, 1);
    } else if (seq.state === 'running') {
      const i = this.running.indexOf(seq);
      if (i >= 0) this.running.splice(i, 1);
      this.freeBlocks(seq);
    }
    seq.state = 'gone';
    this.publish();
  }

  private freeBlocks(seq: Seq): void {
    this.usedBlocks -= seq.blocks;
    seq.blocks = 0;
  }

  /** Reserves the KV blocks `tokens` more tokens of this request need; false when they are not free. */
  private allocate(seq: Seq, tokens: number): boolean {
    const need = Math.ceil((seq.computed + tokens) / this.limits.blockSizeTokens) - seq.blocks;
    if (need <= 0) return true;
    if (this.usedBlocks + need > this.limits.kvCacheBlocks) return false;
    seq.blocks += need;
    this.usedBlocks += need;
    return true;
  }

  private preempt(seq: Seq): void {
    this.freeBlocks(seq);
    seq.computed = 0;
    seq.state = 'waiting';
    this.preemptions++;
    this.waiting.unshift(seq);
  }

  /** Tokens a running request asks of this step, 0 when it sits this one out. */
  private wants(seq: Seq, nowMs: number): { tokens: number; decode: boolean } {
    if (nowMs < seq.readyAtMs) return { tokens: 0, decode: false };
    if (seq.decoding) {
      seq.credit += seq.job.rateFactor;
      if (seq.credit < 1) return { tokens: 0, decode: true };
      const k = Math.min(Math.floor(seq.credit), MAX_TOKENS_PER_STEP, seq.job.outputs - seq.emitted);
      return { tokens: Math.max(1, k), decode: true };
    }
    return { tokens: Math.min(seq.target - seq.computed, this.limits.prefillChunkTokens), decode: false };
  }

  private schedule(nowMs: number): Planned[] {
    const plan: Planned[] = [];
    let budget = this.limits.maxNumBatchedTokens;
    let preempted = false;
    let prefilling = 0;
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i] as Seq;
      const want = this.wants(seq, nowMs);
      if (!want.decode) prefilling++;
      if (want.tokens === 0) continue;
      const tokens = Math.min(want.tokens, budget);
      let fits = this.allocate(seq, tokens);
      while (!fits) {
        const victim = this.running.pop() as Seq;
        this.preempt(victim);
        preempted = true;
        if (victim === seq) break;
        fits = this.allocate(seq, tokens);
      }
      if (!fits) break;
      if (want.decode) seq.credit -= tokens;
      plan.push({ seq, tokens, decode: want.decode });
      budget -= tokens;
    }
    if (preempted) return plan;
    while (
      this.waiting.length > 0 &&
      budget > 0 &&
      this.running.length < this.limits.maxNumSeqs &&
      prefilling < this.limits.maxConcurrentPrefills
    ) {
      const seq = this.waiting[0] as Seq;
      seq.computed = Math.min(seq.job.cachedPromptTokens, seq.target - 1);
      // vLLM allocates the blocks of what it schedules; the first chunk is reserved at admission.
      const chunk = Math.min(seq.target - seq.computed, this.limits.prefillChunkTokens, budget);
      if (!this.allocate(seq, chunk)) break;
      this.waiting.shift();
      seq.state = 'running';
      this.running.push(seq);
      if (!seq.started) {
        seq.started = true;
        seq.readyAtMs = nowMs + this.cost.fixedTtftMs * seq.ttftFactor + (seq.job.extraDelayMs ?? 0);
        seq.job.onStart(nowMs, nowMs - seq.arrivedAtMs);
      }
      const want = this.wants(seq, nowMs);
      prefilling++;
      if (want.tokens === 0) continue;
      const tokens = Math.min(want.tokens, budget);
      plan.push({ seq, tokens, decode: false });
      budget -= tokens;
    }
    return plan;
  }

  /** Starts a step now, ending a wait for a request's fixed TTFT part. */
  private wake(nowMs: number): void {
    if (this.stepTimer) this.stepTimer.cancelled = true;
    this.stepTimer = undefined;
    this.sleeping = false;
    this.step(nowMs);
  }

  private step(startMs: number): void {
    const plan = this.schedule(startMs);
    this.publish();
    this.sleeping = false;
    if (plan.length === 0) {
      if (this.running.length === 0) {
        this.stepping = false;
        return;
      }
      if (!this.running.some((s) => s.decoding && startMs >= s.readyAtMs)) {
        // Everyone is in its fixed TTFT part: wait for the first to finish it.
        let readyAtMs = Infinity;
        for (const s of this.running) readyAtMs = Math.min(readyAtMs, s.readyAtMs);
        this.stepping = true;
        this.sleeping = true;
        this.stepTimer = this.clock.at(readyAtMs, () => {
          this.sleeping = false;
          this.step(readyAtMs);
        });
        return;
      }
    }
    // The batch's width is what a decoding step costs: a fast request's second token rides in the
    // same forward pass (as an accepted draft token does), so it is not charged as another sequence —
    // charged per token, a request at 1.6× the median rate decoded at 1.2× (the burst objective's
    // fastest requests never reached the figure).
    let decodeSeqs = 0;
    let prefillMs = 0;
    for (const p of plan) {
      if (p.decode) decodeSeqs += 1;
      else prefillMs += p.tokens * this.cost.prefillMsPerToken * p.seq.ttftFactor;
    }
    // A step where every decoding request sat out still turns the batch once.
    const decodes = decodeSeqs > 0 || plan.length === 0;
    const decodeMs = decodes
      ? (this.cost.stepOverheadMs + Math.max(1, decodeSeqs) * this.cost.decodeMsPerToken) *
        logNormalFactor(this.rand, this.cost.stepSigma)
      : 0;
    const endMs = startMs + decodeMs + prefillMs;
    this.stepping = true;
    // A step already due still waits its turn of the event loop, so what the last one wrote goes out
    // before the next one's tokens (the servers write each step's outputs as it ends).
    this.stepTimer = this.clock.at(endMs, () => this.endStep(plan, endMs));
  }

  private endStep(plan: readonly Planned[], endMs: number): void {
    this.stepTimer = undefined;
    let finished = false;
    for (const { seq, tokens, decode } of plan) {
      // Preempted or released since the step began: its work in this step is lost.
      if (seq.state !== 'running') continue;
      seq.computed += tokens;
      const outputs = decode ? tokens : seq.computed >= seq.target ? 1 : 0;
      if (!decode && outputs === 0) {
        seq.job.onPrefill?.(seq.computed, seq.job.promptTokens, endMs);
        continue;
      }
      for (let k = 0; k < outputs && seq.state === 'running'; k++) {
        const index = seq.emitted++;
        if (seq.emitted >= seq.job.outputs) {
          // Done: its place and KV are free for the next step.
          seq.state = 'gone';
          this.freeBlocks(seq);
          finished = true;
        }
        seq.job.onOutput(index, endMs);
      }
      if (seq.state === 'gone') finished = true;
    }
    if (finished) this.running = this.running.filter((s) => s.state === 'running');
    this.step(endMs);
  }
}
