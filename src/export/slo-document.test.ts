// The regenerated SLO document for the example fleet and a fixed day of data, compared with a
// golden file (regenerate with UPDATE_GOLDEN=1 after an intended change, and read the diff).
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { ProbeResult } from '../probes/types.ts';
import { evaluateFleet, foldProbes, foldRecords, samplesFromRecords } from '../slo/index.ts';
import type { CalibrationRunSummary } from './slo-document.ts';
import { lastUpdated, renderSloDocument, sloDocument } from './slo-document.ts';

const GOLDEN = 'test/fixtures/slo-document/onex.md';
const SEED = 'docs/seed/000_d2de3fbf16511473.txt';
const MIN = 60_000;
const NOW = Date.parse('2026-11-24T20:00:00Z'); // Tuesday 12:00 in Los Angeles

// The demo's shape: coder and the fast coder on loopback, the others not overridden.
const fleet = loadFleet('examples/onex.fleet.yaml', {
  env: { LLM_CODER_URL: 'http://127.0.0.1:18000', LLM_CODER_FAST_URL: 'http://127.0.0.1:18001' },
});

function scenario() {
  const records: RequestRecord[] = [];
  for (let i = 0; i < 240; i++) {
    const base = {
      source: 'gateway' as const,
      route: 'auto',
      outcome: 'ok' as const,
      status: 200,
      stream: true,
      attempts: [],
      totalMs: 2000,
    };
    records.push({
      ...base,
      id: `c${i}`,
      operation: 'chat',
      endpoint: 'coder',
      startedAtMs: NOW - 240 * MIN + i * MIN,
      ttftMs: 400 + ((i * 37) % 1900),
      decodeTokensPerSecond: 70 + ((i * 13) % 40),
      burstTokensPerSecond: 140 + ((i * 7) % 30),
    });
    records.push({
      ...base,
      id: `f${i}`,
      operation: 'chat',
      endpoint: 'coder-fast',
      startedAtMs: NOW - 240 * MIN + i * MIN + 30_000,
      ttftMs: 150 + ((i * 53) % 900),
      decodeTokensPerSecond: 65 + ((i * 11) % 30),
      burstTokensPerSecond: 125 + ((i * 5) % 20),
    });
  }
  const probes: ProbeResult[] = [];
  for (let t = NOW - 240 * MIN; t < NOW; t += 15_000)
    for (const endpoint of ['coder', 'coder-fast'])
      probes.push({
        endpoint,
        kind: 'health',
        atMs: t,
        // coder-fast was down for 4 minutes, 90 minutes ago.
        ok: !(endpoint === 'coder-fast' && t >= NOW - 90 * MIN && t < NOW - 86 * MIN),
        latencyMs: 3,
        detail: '',
      });
  const verdict = evaluateFleet(fleet, {
    buckets: [...foldRecords(fleet, records), ...foldProbes(fleet, probes)],
    samples: samplesFromRecords(records),
    incidents: [
      {
        endpoint: 'coder-fast',
        startedAtMs: NOW - 90 * MIN,
        endedAtMs: NOW - 86 * MIN,
        cause: 'connect_refused',
      },
    ],
    fingerprints: {
      calibrated: [
        {
          endpoint: 'coder',
          model: 'qwen3-coder-30b',
          maxModelLen: 65536,
          serverVersion: 'vllm 0.11.0',
          atMs: NOW - 2 * 24 * 60 * MIN,
        },
      ],
      observed: [
        {
          endpoint: 'coder',
          model: 'qwen3-coder-30b',
          maxModelLen: 65536,
          serverVersion: 'vllm 0.11.2',
          atMs: NOW - MIN,
        },
      ],
    },
    nowMs: NOW,
    sinceMs: NOW - 24 * 60 * MIN,
  });
  const calibrationRuns: CalibrationRunSummary[] = [
    {
      endpoint: 'coder',
      startedAtMs: NOW - 2 * 24 * 60 * MIN,
      iterations: 200,
      warmupIterations: 50,
      summary: { ttftP50Ms: 512, ttftP95Ms: 880, ttftP99Ms: 1310 },
      proposed: { ttftP95Ms: 1800, ttftP99Ms: 2700 },
      fingerprint: {
        endpoint: 'coder',
        model: 'qwen3-coder-30b',
        maxModelLen: 65536,
        serverVersion: 'vllm 0.11.0',
        atMs: NOW - 2 * 24 * 60 * MIN,
      },
      note: 'simulated endpoint (demo)',
    },
  ];
  return { verdict, calibrationRuns };
}

/** Markdown headings outside code fences (a `# comment` in a bash block is not a heading). */
function headings(markdown: string): string[] {
  let fenced = false;
  const out: string[] = [];
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced && /^#{1,3} /.test(line)) out.push(line.trim());
  }
  return out;
}

describe('the regenerated SLO document', () => {
  const input = { fleet, ...scenario() };

  it('matches the golden Markdown', () => {
    const md = renderSloDocument(input, 'md').replace(fleet.source, 'examples/onex.fleet.yaml');
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(GOLDEN, md);
    expect(md).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it("has the seed's sections in the seed's order", () => {
    const seedHeadings = headings(readFileSync(SEED, 'utf8'));
    const ours = headings(renderSloDocument(input, 'md'));
    // Everything the seed has, in its order (ours adds 'Last Calibration Runs'; 'Related Documentation'
    // links pages of the seed's own repository and is left out).
    const expected = seedHeadings.filter((h) => h !== '## Related Documentation');
    expect(ours.filter((h) => expected.includes(h))).toEqual(expected);
    expect(ours).toContain('### Last Calibration Runs');
  });

  it("takes 'Last Updated' from the data, not from the clock or the fleet file", () => {
    expect(lastUpdated(input)).toBe('2026-11-24');
    expect(lastUpdated({ fleet })).toBe('2026-02-19'); // no data: the fleet file's date
  });

  it('renders the same structure as HTML (escaped) and JSON', () => {
    const html = renderSloDocument(input, 'html');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<table>/g)?.length).toBe(html.match(/<\/table>/g)?.length);
    expect(html).toContain('<h2>Request Routing Decision Matrix</h2>');
    expect(html).toContain('if task == &quot;code&quot; and token_count &gt; 40_000:');
    const json = JSON.parse(renderSloDocument(input, 'json')) as { lastUpdated: string; document: unknown };
    expect(json.lastUpdated).toBe('2026-11-24');
    expect(json.document).toEqual(JSON.parse(JSON.stringify(sloDocument(input))));
  });

  it('says which objective failed: one row per objective, budget and burn rate beside each verdict', () => {
    const md = renderSloDocument(input, 'md');
    const row = (objective: string): string =>
      md.split('\n').find((l) => l.startsWith('| `LLM_CODER_FAST_URL` | ' + objective)) ?? '';
    expect(row('TTFT P95 ≤ 800 ms')).toMatch(
      /\| spent \| [\d.]+× \(1h\) · [\d.]+× \(6h\) \| \*\*BREACH\*\* \|$/,
    );
    expect(row('TTFT P99 ≤ 1500 ms')).toMatch(/\| 100% \| 0× \(1h\) · 0× \(6h\) \| ok \|$/);
    expect(row('sustained decode')).not.toBe('');
    expect(row('burst')).not.toBe('');
    // The seed-shaped table names the objective behind a combined verdict.
    expect(md).toMatch(/\| `LLM_CODER_FAST_URL` \(port 18001\) .* \| \*\*BREACH\*\* \(P95\) \|/);
  });

  it('colours verdicts in HTML and notes a simulated fleet', () => {
    const html = renderSloDocument({ ...input, simulated: true }, 'html');
    expect(html).toMatch(/<td class="verdict breach"><strong>BREACH<\/strong><\/td>/);
    expect(html).toMatch(/<td class="verdict ok">ok<\/td>/);
    expect(html).toContain('td.breach{background:#ffebe9');
    expect(html).toContain('<strong>Simulated fleet</strong>');
    expect(renderSloDocument(input, 'md')).not.toContain('Simulated fleet');
  });
});
