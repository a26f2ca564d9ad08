// TEI's batching in virtual time: requests queued while a batch runs share the next one, up to
// max_batch_tokens.
import { describe, expect, it } from 'vitest';
import { EmbedBatcher } from './embed-batcher.ts';
import { VirtualClock } from './engine-clock.ts';

describe('embeddings batches (TEI)', () => {
  it('requests that queue during a batch share the next one, split at max_batch_tokens', () => {
    const clock = new VirtualClock();
    // 1 ms per batch + 0.1 ms per input.
    const batcher = new EmbedBatcher(1000, (inputs) => 1 + 0.1 * inputs, clock);
    const done: Record<string, number> = {};
    const submit = (name: string, inputs: number, tokens: number): void => {
      batcher.submit({ inputs, tokens, onStart: () => undefined, onDone: (at) => (done[name] = at) });
    };
    submit('a', 10, 400); // starts at once: 0 → 2 ms
    submit('b', 10, 400); // queued: b and c share the next batch (800 tokens ≤ 1000)
    submit('c', 10, 400);
    submit('d', 10, 400); // would make 1200: the batch after
    clock.runAll();
    expect(done.a).toBeCloseTo(2, 9);
    expect(done.b).toBeCloseTo(2 + 3, 9);
    expect(done.c).toBe(done.b);
    expect(done.d).toBeCloseTo(5 + 2, 9);
  });

  it('a request over the budget still runs, alone', () => {
    const clock = new VirtualClock();
    const batcher = new EmbedBatcher(100, () => 5, clock);
    let at = NaN;
    batcher.submit({ inputs: 1, tokens: 500, onStart: () => undefined, onDone: (t) => (at = t) });
    clock.runAll();
    expect(at).toBe(5);
  });
});
