// The README's console examples are what the code prints today: each marked block is compared,
// volatile parts masked, with a fresh run of its commands (scripts/readme-examples.ts). A change
// that alters an example fails here until `npm run docs:examples` regenerates the README.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkedPart,
  comparable,
  EXAMPLES,
  maskVolatile,
  README,
  readmeBlocks,
  runExample,
} from '../scripts/readme-examples.ts';

const readme = readFileSync(README, 'utf8');
const blocks = new Map(readmeBlocks(readme).map((b) => [b.name, b]));

describe('README console examples', () => {
  it('every example has its block and every block its example', () => {
    expect([...blocks.keys()].sort()).toEqual(EXAMPLES.map((e) => e.name).sort());
  });

  it('every console block in the README is one of them (commands to type are ```sh)', () => {
    const unmarked = readme
      .split('\n')
      .flatMap((line, i, lines) =>
        line === '```console' && !/^<!-- example: [\w-]+ -->$/.test(lines[i - 1] ?? '')
          ? [`README.md:${i + 1}`]
          : [],
      );
    expect(unmarked, 'a console block not produced by scripts/readme-examples.ts').toEqual([]);
  });

  it('the masks hide ports, times and durations, and keep the words', () => {
    const a = maskVolatile(
      '2026-12-02T17:01:54.123Z  at 17:01:54 on http://127.0.0.1:41234 took 9.3 ms (163778 bytes)',
    );
    const b = maskVolatile(
      '2026-12-03T01:00:00.000Z  at 01:00:00 on http://127.0.0.1:4000 took 12 ms (170000 bytes)',
    );
    expect(a).toBe(b);
    expect(maskVolatile('coder: up → down')).not.toBe(maskVolatile('coder: up → degraded'));
  });

  for (const example of EXAMPLES) {
    const missing = example.missing?.();
    const skipped = missing ? ` — SKIPPED: ${missing}` : '';
    if (skipped) console.warn(`[readme examples] ${example.name}${skipped}`);
    it.skipIf(missing !== undefined)(
      `${example.name}: the README shows what the code prints`,
      async () => {
        const body = await runExample(example, 'check');
        const want = comparable(example, checkedPart(example, blocks.get(example.name)?.body ?? ''));
        expect(comparable(example, body), 'README is stale: run npm run docs:examples').toBe(want);
      },
      120_000,
    );
  }
});
