// llama.cpp's server slots as its `/slots` route and (in old builds) `/health` show them. One slot
// per parallel sequence (`--parallel`, the simulator's maxNumSeqs); a request takes the idle slot
// used longest ago (the real server first prefers the one whose cached prompt shares the longest
// prefix; the simulator's prefix cache is endpoint-wide, so it does not). Checked against
// tools/server/server-context.cpp (server_slot::to_json) and the /health and /slots handlers:
// - PR #5548/#5594 (Feb 2024): /health carries slots_idle / slots_processing, status "no slot
//   available" when none is idle, 503 with ?fail_on_no_slot.
// - PR #9056 (b3590, Aug 2024): /health is {"status":"ok"} only; slot state moved to /slots, which
//   answers 503 "no slot available" to ?fail_on_no_slot (presence only: =0 counts too).
// - PR #10162 (b4034, Nov 2024): a slot's `state` became `is_processing`.
// - /slots is on unless the server runs with --no-slots: then 501 not_supported_error.
import { atLeast } from './version.ts';

/** What a request in a slot shows through /slots. */
export interface SlotOccupant {
  readonly idTask: number;
  /** n_predict: the request's max_tokens, -1 when unlimited. */
  readonly nPredict: number;
  readonly promptTokens: number;
  readonly cachedPromptTokens: number;
  prompt(): string;
  decoded(): number;
  generated(): string;
}

export interface SimSlot {
  readonly id: number;
  occupant?: SlotOccupant;
  /** The last request that ran here (llama.cpp shows task_prev's fields on an idle slot). */
  previous?: SlotOccupant;
  lastUsedMs: number;
}

export class SlotTable {
  readonly slots: SimSlot[];
  private nextTaskId = 0;

  constructor(count: number) {
    this.slots = Array.from({ length: Math.max(1, count) }, (_, id) => ({ id, lastUsedMs: -1 }));
  }

  taskId(): number {
    return this.nextTaskId++;
  }

  /** Puts the request in the idle slot used longest ago; undefined when every slot is busy. */
  occupy(occupant: SlotOccupant, nowMs: number): number | undefined {
    let pick: SimSlot | undefined;
    for (const s of this.slots) {
      if (s.occupant !== undefined) continue;
      if (pick === undefined || s.lastUsedMs < pick.lastUsedMs) pick = s;
    }
    if (pick === undefined) return undefined;
    pick.occupant = occupant;
    pick.lastUsedMs = nowMs;
    return pick.id;
  }

  vacate(id: number, nowMs: number): void {
    const s = this.slots[id];
    if (s?.occupant === undefined) return;
    s.previous = s.occupant;
    s.occupant = undefined;
    s.lastUsedMs = nowMs;
  }

  get idle(): number {
    return this.slots.filter((s) => s.occupant === undefined).length;
  }

  get processing(): number {
    return this.slots.length - this.idle;
  }
}

/** Builds before PR #9056 (b3590) put slot counts in /health. */
export function healthHasSlotCounts(version: string): boolean {
  return !atLeast(version, 'b3590');
}

export function slotsJson(table: SlotTable, nCtx: number, version: string): string {
  const modern = atLeast(version, 'b4034');
  return JSON.stringify(
    table.slots.map((s) => {
      const task = s.occupant ?? s.previous;
      const processing = s.occupant !== undefined;
      const base: Record<string, unknown> = modern
        ? { id: s.id, n_ctx: nCtx, speculative: false, is_processing: processing }
        : { id: s.id, n_ctx: nCtx, speculative: false, state: processing ? 1 : 0 };
      if (task === undefined) return base;
      const decoded = task.decoded();
      return {
        ...base,
        id_task: task.idTask,
        n_prompt_tokens: task.promptTokens,
        n_prompt_tokens_processed: task.promptTokens - task.cachedPromptTokens,
        n_prompt_tokens_cache: task.cachedPromptTokens,
        // The real server lists every sampling parameter here; the simulator the ones it models.
        params: { n_predict: task.nPredict, stream: true },
        next_token: [
          {
            has_next_token: s.occupant !== undefined,
            has_new_line: task.generated().includes('\n'),
            n_remain: task.nPredict < 0 ? -1 : Math.max(0, task.nPredict - decoded),
            n_decoded: decoded,
          },
        ],
        prompt: task.prompt(),
        generated: task.generated(),
      };
    }),
  );
}
