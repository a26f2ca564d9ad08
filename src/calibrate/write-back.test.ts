import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFleet } from '../fleet/index.ts';
import type { DerivedValue } from './thresholds.ts';
import { applyTargets, lineDiff, rewriteFleetText } from './write-back.ts';

const FILE = new URL('../../examples/onex.fleet.yaml', import.meta.url);
const TEXT = readFileSync(FILE, 'utf8');
const v = (value: number): DerivedValue => ({
  value,
  exact: value,
  from: 'p95',
  measured: value,
  roundingStep: 1,
  formula: '',
});

describe('applyTargets (--write)', () => {
  it('changes only the target values, in place, keeping comments, flow maps and units', () => {
    const r = applyTargets(TEXT, [
      {
        endpoint: 'coder',
        proposal: {
          ttftP95Ms: v(1500),
          ttftP99Ms: v(2400),
          sustainedTokensPerSecond: v(90),
          burstTokensPerSecond: v(150),
        },
      },
      {
        endpoint: 'embeddings',
        proposal: { ttftP95Ms: v(200), ttftP99Ms: v(300), embeddingsPerSecond: v(5500) },
      },
    ]);
    expect(r.changes).toEqual([
      { endpoint: 'coder', field: 'ttft.p95', from: '2000ms', to: '1500ms' },
      { endpoint: 'coder', field: 'ttft.p99', from: '4000ms', to: '2400ms' },
      { endpoint: 'coder', field: 'throughput.sustained', from: '80', to: '90' },
      { endpoint: 'embeddings', field: 'ttft.p99', from: '400ms', to: '300ms' },
      { endpoint: 'embeddings', field: 'throughput.embeddingsPerSecond', from: '5000', to: '5500' },
    ]);
    // The example file evolves; find the lines rather than hard-coding their numbers.
    const lines = TEXT.split('\n');
    const at = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1;
    const coder = at('ttft: { p95: 2000ms, p99: 4000ms }');
    const emb = at('ttft: { p95: 200ms, p99: 400ms }');
    expect(lineDiff(TEXT, r.text)).toBe(
      [
        `- ${coder}: ${lines[coder - 1]}`,
        `- ${coder + 1}: ${lines[coder]}`,
        `+ ${coder}: ${lines[coder - 1]?.replace('2000ms', '1500ms').replace('4000ms', '2400ms')}`,
        `+ ${coder + 1}: ${lines[coder]?.replace('sustained: 80', 'sustained: 90')}`,
        `- ${emb}: ${lines[emb - 1]}`,
        `- ${emb + 1}: ${lines[emb]}`,
        `+ ${emb}: ${lines[emb - 1]?.replace('400ms', '300ms')}`,
        `+ ${emb + 1}: ${lines[emb]?.replace('5000', '5500')}`,
        '',
      ].join('\n'),
    );
    expect(lines[emb]).toContain('embeddingsPerSecond: 5000');
    // Every other line, comments included, is byte for byte the same.
    expect(r.text.split('\n').length).toBe(TEXT.split('\n').length);
    for (const line of TEXT.split('\n').filter((l) => l.trimStart().startsWith('#')))
      expect(r.text).toContain(line);
  });

  it('round trip: the written file validates and carries the new targets', () => {
    const r = rewriteFleetText(TEXT, 'onex.fleet.yaml', [
      {
        endpoint: 'coder',
        proposal: { ttftP95Ms: v(1500), ttftP99Ms: v(2400), sustainedTokensPerSecond: v(90) },
      },
    ]);
    const fleet = parseFleet(r.text, 'onex.fleet.yaml', { env: {} });
    const coder = fleet.endpoints.find((e) => e.name === 'coder');
    expect(coder?.slo.ttft).toEqual({ p95Ms: 1500, p99Ms: 2400 });
    expect(coder?.slo.throughput.sustainedTokensPerSecond).toBe(90);
    expect(coder?.slo.throughput.burstTokensPerSecond).toBe(150);
  });

  it('adds a target that was TBD and keeps the comments', () => {
    const r = rewriteFleetText(TEXT, 'onex.fleet.yaml', [
      {
        endpoint: 'small',
        proposal: { ttftP95Ms: v(600), ttftP99Ms: v(900), sustainedTokensPerSecond: v(30) },
      },
    ]);
    const small = parseFleet(r.text, 'onex.fleet.yaml', { env: {} }).endpoints.find(
      (e) => e.name === 'small',
    );
    expect(small?.slo.ttft).toEqual({ p95Ms: 600, p99Ms: 900 });
    expect(small?.slo.throughput.sustainedTokensPerSecond).toBe(30);
    expect(r.text).toContain(
      '# The seed says "nearest 500 tokens/s"; that would round 80 tok/s to 0. See the README.',
    );
  });

  it('writing the values already there changes nothing', () => {
    const r = applyTargets(TEXT, [
      { endpoint: 'coder', proposal: { ttftP95Ms: v(2000), sustainedTokensPerSecond: v(80) } },
    ]);
    expect(r.changes).toEqual([]);
    expect(r.text).toBe(TEXT);
  });

  it('refuses an endpoint the file does not have', () => {
    expect(() => applyTargets(TEXT, [{ endpoint: 'nope', proposal: {} }])).toThrow(/not in the fleet file/);
  });
});
