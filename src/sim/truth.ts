// Ground truth: what really happened to each simulated request, server side, so a benchmark can
// compare what a client measured (TTFT, ITL, tokens) with the truth. Times are epoch milliseconds
// with sub-millisecond precision (performance.timeOrigin + performance.now()), comparable with a
// client's `performance.timeOrigin + performance.now()` in another process on the same machine.

export interface SimRequestTruth {
  /** Response id (`chatcmpl-…`, `cmpl-…`, `embd-…`). */
  readonly id: string;
  /** The fleet endpoint this simulator stands in for (SimEndpointOptions.name). */
  readonly endpoint?: string;
  /** The `x-request-id` the client sent, if any (to join with client records). */
  readonly clientRequestId?: string;
  readonly path: string;
  readonly stream: boolean;
  readonly arrivalMs: number;
  /** Time spent waiting for a free sequence slot (max-num-seqs). */
  readonly queueMs: number;
  readonly promptTokens: number;
  readonly cachedPromptTokens: number;
  /** Emitted tokens (reasoning + content), as in usage.completion_tokens. */
  readonly completionTokens: number;
  readonly reasoningTokens: number;
  /** Epoch ms the response headers were written (undefined if never). */
  readonly headersAtMs?: number;
  /** Server-side TTFT: first token (reasoning or content) written − arrival. */
  readonly ttftMs?: number;
  /**
   * The TTFT the latency model chose (queue + prefill), before any lateness of the simulator's own
   * event loop: compare with ttftMs to see how late a busy machine made the write.
   */
  readonly scheduledTtftMs?: number;
  /** First content (non-reasoning) token written − arrival. */
  readonly ttftContentMs?: number;
  /** Epoch ms each token's event was written (actual; tokens sharing an event share its time). */
  readonly tokenTimesMs: readonly number[];
  /**
   * How late each token write ran after the token's scheduled decode time (ms): the simulator's own
   * timing error, plus the wait for the rest of its event when tokensPerChunk > 1.
   */
  readonly tokenLatenessMs: readonly number[];
  readonly endAtMs?: number;
  readonly status: number;
  readonly outcome: 'ok' | 'fault' | 'error' | 'client-abort' | 'server-closed';
  readonly fault?: string;
  readonly finishReason?: 'stop' | 'length';
  /** Embeddings: inputs in the batch. */
  readonly inputs?: number;
}

/** A mutable record while the request runs; frozen into SimRequestTruth when it ends. */
export type TruthDraft = { -readonly [K in keyof SimRequestTruth]: SimRequestTruth[K] } & {
  tokenTimesMs: number[];
  tokenLatenessMs: number[];
};
