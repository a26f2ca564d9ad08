// The load ledger shared by replicas (issue 14): every replica keeps its own dispatches in an
// in-process ledger — exact, synchronous, O(1) — and adds the other replicas' counts, which each
// publishes every `periodMs` over the shared state (SharedCounters). A read never waits; the
// others' part is at most one period (plus the event's delivery) old, and drops out when a
// replica goes quiet or the shared store is lost (then the view is this replica's own).
import type { SharedState } from '../../state/index.ts';
import { SharedCounters } from '../../state/index.ts';
import {
  InProcessLedger,
  type DispatchInfo,
  type LedgerCounts,
  type LedgerTicket,
  type LoadKey,
  type LoadLedger,
} from './ledger.ts';

const FIELDS = [
  'inFlight',
  'batchInFlight',
  'prefilling',
  'prefillWaitingTokens',
  'decodeTokensExpected',
  'dispatched',
] as const satisfies readonly (keyof LedgerCounts)[];

const SEP = '\u0000';

export class SharedLedger implements LoadLedger {
  private readonly local = new InProcessLedger();
  private readonly counters: SharedCounters;

  constructor(state: SharedState, options: { periodMs?: number; now?: () => number } = {}) {
    this.counters = new SharedCounters(state, {
      name: 'load-ledger',
      read: () => this.flatten(),
      ...(options.periodMs !== undefined ? { periodMs: options.periodMs } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
  }

  private flatten(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const key of this.local.keys()) {
      const c = this.local.counts(key);
      for (const f of FIELDS) if (c[f] !== 0) out[`${key}${SEP}${f}`] = c[f];
    }
    return out;
  }

  dispatch(key: LoadKey, info: DispatchInfo): LedgerTicket {
    return this.local.dispatch(key, info);
  }

  /** This replica's counts plus the others' last published ones. */
  counts(key: LoadKey): LedgerCounts {
    const own = this.local.counts(key);
    const sum = (f: (typeof FIELDS)[number]): number => own[f] + this.counters.elsewhere(`${key}${SEP}${f}`);
    return {
      inFlight: sum('inFlight'),
      batchInFlight: sum('batchInFlight'),
      prefilling: sum('prefilling'),
      prefillWaitingTokens: sum('prefillWaitingTokens'),
      decodeTokensExpected: sum('decodeTokensExpected'),
      dispatched: sum('dispatched'),
    };
  }

  keys(): readonly LoadKey[] {
    return this.local.keys();
  }

  onRelease(listener: (key: LoadKey) => void): () => void {
    return this.local.onRelease(listener);
  }

  close(): void {
    this.counters.close();
  }
}
