// Rates over one request's token arrival times (milliseconds, ascending).

/** Gaps between consecutive arrivals. */
export function gaps(timesMs: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < timesMs.length; i++) out.push((timesMs[i] as number) - (timesMs[i - 1] as number));
  return out;
}

/**
 * Generation-phase rate: (tokens − 1) / (last − first). The first token closes the prefill, so N tokens
 * span N − 1 decode steps. Undefined when that span is empty (one token, or all in one event).
 */
export function decodeRate(tokens: number, firstMs: number, lastMs: number): number | undefined {
  const spanMs = lastMs - firstMs;
  if (tokens < 2 || !(spanMs > 0)) return undefined;
  return ((tokens - 1) * 1000) / spanMs;
}

/**
 * Best 1-second rate: a window of exactly 1000 ms slides over the decode phase, anchored at each
 * token arrival, and counts the tokens that arrive after the anchor and no later than 1000 ms after
 * it (the same counting as decodeRate, so a steady stream gives the same figure both ways). Anchoring
 * on arrivals avoids the bucket-alignment luck of vLLM's fixed 1-second buckets. A decode phase
 * shorter than one second is its own best window: its decode rate. `tokensPerEvent` spreads the
 * server's token count over events when one event carries several tokens.
 */
export function bestOneSecondRate(timesMs: readonly number[], tokensPerEvent = 1): number | undefined {
  const n = timesMs.length;
  if (n < 2) return undefined;
  const first = timesMs[0] as number;
  const last = timesMs[n - 1] as number;
  if (last - first < 1000) return decodeRate(n * tokensPerEvent, first, last);
  let best = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const anchor = timesMs[i] as number;
    if (anchor + 1000 > last) break; // a window must lie inside the decode phase
    if (j < i) j = i;
    while (j + 1 < n && (timesMs[j + 1] as number) <= anchor + 1000) j++;
    best = Math.max(best, (j - i) * tokensPerEvent);
  }
  return best;
}

export interface StreamRates {
  /** decodeRate over the stream's completion tokens. */
  readonly decodeTokensPerSecond?: number;
  /** bestOneSecondRate, each event weighted by completion tokens / events. */
  readonly burstTokensPerSecond?: number;
}

/**
 * The decode and burst rates of one stream, from the arrival times of its token-bearing events and
 * its completion token count (the server's usage; the event count when there is none). Every record
 * that carries these figures — gateway, calibrate, bench — is computed here, so the same stream
 * gives the same numbers whoever watched it.
 */
export function streamRates(timesMs: readonly number[], completionTokens: number | undefined): StreamRates {
  const n = timesMs.length;
  const first = timesMs[0];
  const last = timesMs[n - 1];
  if (completionTokens === undefined || first === undefined || last === undefined) return {};
  return {
    decodeTokensPerSecond: decodeRate(completionTokens, first, last),
    burstTokensPerSecond: bestOneSecondRate(timesMs, completionTokens / n),
  };
}
