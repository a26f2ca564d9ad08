// The gateway's own ledger of what it has dispatched to each endpoint (and, later, each replica):
// requests in flight, prompt tokens waiting for prefill, decode tokens still expected. Counted at
// the moment of dispatch — before the request is even written upstream — and released at first
// token and at the end, so a burst of requests deciding in the same tick sees each other and never
// herds onto the endpoint a stale snapshot called idle.
//
// LoadLedger is the seam for shared state (issue 14): an implementation backed by Redis keeps the
// same synchronous reads of a local snapshot, so the hot path never awaits.
import type { Priority } from '../../fleet/index.ts';

/** An endpoint, or one replica of it (`coder#1`). */
export type LoadKey = string;

export function loadKey(endpoint: string, replica?: string): LoadKey {
  return replica === undefined ? endpoint : `${endpoint}#${replica}`;
}

export interface DispatchInfo {
  readonly promptTokens: number;
  /** max_tokens, or the endpoint's typical completion when the client set none. */
  readonly expectedDecodeTokens: number;
  readonly priority: Priority;
}

/** A dispatched request's hold on the ledger. Both calls are idempotent; `end` implies `firstToken`. */
export interface LedgerTicket {
  firstToken(): void;
  end(): void;
}

export interface LedgerCounts {
  readonly inFlight: number;
  readonly batchInFlight: number;
  /** Requests dispatched that have no first token yet, and their prompt tokens. */
  readonly prefilling: number;
  readonly prefillWaitingTokens: number;
  readonly decodeTokensExpected: number;
  /** Ever dispatched (a counter). */
  readonly dispatched: number;
}

export interface LoadLedger {
  dispatch(key: LoadKey, info: DispatchInfo): LedgerTicket;
  /** This gateway's view now (synchronous: a local snapshot). */
  counts(key: LoadKey): LedgerCounts;
  keys(): readonly LoadKey[];
  /** Called after any release (first token or end): capacity may have freed. Returns unsubscribe. */
  onRelease(listener: (key: LoadKey) => void): () => void;
}

interface Mutable {
  inFlight: number;
  batchInFlight: number;
  prefilling: number;
  prefillWaitingTokens: number;
  decodeTokensExpected: number;
  dispatched: number;
}

const EMPTY: LedgerCounts = Object.freeze({
  inFlight: 0,
  batchInFlight: 0,
  prefilling: 0,
  prefillWaitingTokens: 0,
  decodeTokensExpected: 0,
  dispatched: 0,
});

/** The in-process ledger: plain counters, O(1) per dispatch and release. */
export class InProcessLedger implements LoadLedger {
  private readonly entries = new Map<LoadKey, Mutable>();
  private readonly listeners = new Set<(key: LoadKey) => void>();

  dispatch(key: LoadKey, info: DispatchInfo): LedgerTicket {
    let m = this.entries.get(key);
    if (!m) {
      m = { ...EMPTY };
      this.entries.set(key, m);
    }
    const entry = m;
    const prompt = Math.max(0, info.promptTokens);
    const decode = Math.max(0, info.expectedDecodeTokens);
    const batch = info.priority === 'batch' ? 1 : 0;
    entry.inFlight += 1;
    entry.batchInFlight += batch;
    entry.prefilling += 1;
    entry.prefillWaitingTokens += prompt;
    entry.decodeTokensExpected += decode;
    entry.dispatched += 1;
    let prefilled = false;
    let ended = false;
    const firstToken = (): void => {
      if (prefilled) return;
      prefilled = true;
      entry.prefilling -= 1;
      entry.prefillWaitingTokens -= prompt;
      this.emit(key);
    };
    return {
      firstToken,
      end: () => {
        if (ended) return;
        ended = true;
        if (!prefilled) {
          prefilled = true;
          entry.prefilling -= 1;
          entry.prefillWaitingTokens -= prompt;
        }
        entry.inFlight -= 1;
        entry.batchInFlight -= batch;
        entry.decodeTokensExpected -= decode;
        this.emit(key);
      },
    };
  }

  counts(key: LoadKey): LedgerCounts {
    return this.entries.get(key) ?? EMPTY;
  }

  keys(): readonly LoadKey[] {
    return [...this.entries.keys()];
  }

  onRelease(listener: (key: LoadKey) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(key: LoadKey): void {
    for (const l of this.listeners) l(key);
  }
}
