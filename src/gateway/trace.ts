// Everything the gateway learns about one request while serving it, turned into the one
// RequestRecord at the end. Monotonic times (performance.now) for durations; the wall clock only
// for the record's start.
import type { Priority } from '../fleet/index.ts';
import type { DispatchInfo } from './load/ledger.ts';
import type { PromptForAffinity } from './replicas.ts';
import type { AttemptRecord, Operation, RequestOutcome, RequestRecord } from '../measure/record.ts';
import { gaps, streamRates } from '../measure/token-rates.ts';
import type { RateVerdict } from '../state/index.ts';
import type { RateClient } from './rate-limit.ts';

export class RequestTrace {
  readonly id: string;
  readonly operation: Operation;
  readonly startedAtMs: number;
  readonly t0: number;
  route = 'auto';
  task: string | undefined;
  readonly attempts: AttemptRecord[] = [];
  /** Time spent waiting on upstreams (failed attempts, waits, the answering attempt up to its first token). */
  upstreamMs = 0;
  timeToHeadersMs: number | undefined;
  timeToRoleMs: number | undefined;
  ttftMs: number | undefined;
  /** Upstream TTFT of the answering attempt (from its send). */
  upstreamTtftMs: number | undefined;
  gatewayOverheadMs: number | undefined;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  tokenSource: RequestRecord['tokenSource'];
  inputCount: number | undefined;
  /** Embeddings: busy time of the endpoint this request newly covered (see RequestRecord.busyMs). */
  busyMs: number | undefined;
  /** Arrival times (monotonic ms) of chunks carrying tokens. */
  readonly tokenTimes: number[] = [];
  tokenChunks = 0;
  degraded = false;
  stream = false;
  /** interactive | batch (x-llm-fleet-priority, the API key's, or the task's). */
  priority: Priority = 'interactive';
  /** What each attempt counts in the load ledger at dispatch (set once the request is placed). */
  loadDispatch: DispatchInfo | undefined;
  /** The prompt a replica pool's prefix affinity reads (set by the chat and completions handlers). */
  affinityPrompt: PromptForAffinity;
  /** Replicas of each pool endpoint this request failed on: the next attempt there goes elsewhere. */
  readonly failedReplicas = new Map<string, Set<string>>();
  /** The API key the request presented (per-key priority). */
  apiKey: string | undefined;
  /** The key's allowance, when it has one. */
  rateClient: RateClient | undefined;
  /** Tokens charged at admission: the prompt estimate plus max_tokens (set by the handler). */
  admissionTokens: number | undefined;
  /** Set once the first attempt has charged the key. */
  rateVerdict: RateVerdict | undefined;
  /** Puts the rate-limit headers on the answer, whatever it turns out to be. */
  onRateHeaders: ((headers: Record<string, string>) => void) | undefined;

  constructor(id: string, operation: Operation, wallNowMs: number, monoNowMs: number) {
    this.id = id;
    this.operation = operation;
    this.startedAtMs = wallNowMs;
    this.t0 = monoNowMs;
  }

  /** Gaps between token chunks (the first gap is after the first token: TTFT is not an ITL). */
  gapsMs(): number[] {
    return gaps(this.tokenTimes);
  }

  finish(args: {
    outcome: RequestOutcome;
    status: number;
    endpoint: string;
    host?: string;
    model?: string;
    endMono: number;
    errorMessage?: string;
  }): { record: RequestRecord; gapsMs: number[] } {
    const gapsMs = this.gapsMs();
    const sorted = [...gapsMs].sort((a, b) => a - b);
    const pick = (q: number): number | undefined =>
      sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
    const completion = this.completionTokens ?? (this.tokenChunks > 0 ? this.tokenChunks : undefined);
    // The one definition of decode and burst rates (measure/), as calibrate and bench use it.
    const rates = streamRates(this.tokenTimes, completion);
    const record: RequestRecord = {
      id: this.id,
      source: 'gateway',
      operation: this.operation,
      route: this.route,
      task: this.task,
      endpoint: args.endpoint,
      replica: this.attempts.findLast((a) => a.endpoint === args.endpoint)?.replica,
      host: args.host,
      model: args.model,
      startedAtMs: this.startedAtMs,
      outcome: args.outcome,
      status: args.status,
      stream: this.stream,
      attempts: this.attempts,
      promptTokens: this.promptTokens,
      completionTokens: completion,
      tokenSource:
        this.completionTokens !== undefined
          ? (this.tokenSource ?? 'usage')
          : completion !== undefined
            ? 'chunks'
            : undefined,
      inputCount: this.inputCount,
      busyMs: this.busyMs,
      timeToHeadersMs: this.timeToHeadersMs,
      timeToRoleMs: this.timeToRoleMs,
      ttftMs: this.ttftMs,
      itlP50Ms: pick(0.5),
      itlP99Ms: pick(0.99),
      itlMaxMs: sorted[sorted.length - 1],
      decodeTokensPerSecond: rates.decodeTokensPerSecond,
      burstTokensPerSecond: rates.burstTokensPerSecond,
      totalMs: args.endMono - this.t0,
      gatewayOverheadMs: this.gatewayOverheadMs,
      degraded: this.degraded || undefined,
      errorMessage: args.errorMessage,
    };
    return { record, gapsMs };
  }
}
