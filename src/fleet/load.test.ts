import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { FleetIssue } from './index.ts';
import { effectiveRoundingStep, FleetValidationError, loadFleet, parseFleet } from './index.ts';
import { FleetError } from '../errors.ts';

const EXAMPLE = 'examples/onex.fleet.yaml';
const text = readFileSync(EXAMPLE, 'utf8');
const fleet = loadFleet(EXAMPLE, { env: {} });

/** Parse the example with one edit; return the issues it fails with. */
function issuesAfter(
  edit: (doc: ReturnType<typeof parseDocument>) => void,
  env: NodeJS.ProcessEnv = {},
): FleetIssue[] {
  const doc = parseDocument(text);
  edit(doc);
  try {
    parseFleet(doc.toString(), 'edited.yaml', { env });
  } catch (error) {
    if (error instanceof FleetValidationError) return [...error.issues];
    throw error;
  }
  throw new Error('expected the edited fleet to be invalid');
}

describe('the example fleet reproduces the seed', () => {
  const ep = (name: string) => fleet.endpoints.find((e) => e.name === name)!;

  it('has the five endpoints of the inventory with env var, host, port, model and status', () => {
    expect(
      fleet.endpoints.map((e) => [
        e.env,
        fleet.hosts.find((h) => h.name === e.host)!.address,
        e.port ?? 'TBD',
        e.model,
        e.status,
      ]),
    ).toEqual([
      ['LLM_CODER_URL', '192.168.86.201', 8000, 'Qwen3-Coder-30B-A3B-Instruct AWQ-4bit', 'running'],
      ['LLM_CODER_FAST_URL', '192.168.86.201', 8001, 'Qwen3-14B-AWQ', 'running'],
      ['LLM_EMBEDDING_URL', '192.168.86.200', 8100, 'Qwen3-Embedding-8B-4bit', 'running'],
      ['LLM_DEEPSEEK_R1_URL', '192.168.86.200', 8101, 'DeepSeek-R1-Distill-Qwen-32B-bf16', 'running'],
      ['LLM_SMALL_URL', '192.168.86.105', 'TBD', 'Qwen2.5-Coder-7B-Instruct MLX-4bit', 'planned'],
    ]);
  });

  it('has the three hosts and their hardware', () => {
    expect(fleet.hosts.map((h) => [h.address, h.description])).toEqual([
      ['192.168.86.201', 'Linux GPU server'],
      ['192.168.86.200', 'Mac Studio M2 Ultra'],
      ['192.168.86.105', 'MacBook Air M4'],
    ]);
    expect(fleet.hosts[0]!.hardware).toBe('RTX 5090 (port 8000) + RTX 4090 (port 8001)');
    expect([ep('coder').hardware, ep('coder-fast').hardware]).toEqual(['RTX 5090', 'RTX 4090']);
  });

  it('has the context windows, TTFT targets and notes', () => {
    expect(
      fleet.endpoints.map((e) => [e.name, e.contextWindowTokens, e.slo.ttft?.p95Ms, e.slo.ttft?.p99Ms]),
    ).toEqual([
      ['coder', 65_536, 2000, 4000],
      ['coder-fast', 40_960, 800, 1500],
      ['embeddings', undefined, 200, 400],
      ['deepseek-r1', 32_768, 3000, 6000],
      ['small', undefined, undefined, undefined],
    ]);
    expect(ep('coder').notes).toBe('MoE architecture; 30B total / 3B active');
  });

  it('has throughput targets, embeddings/s at batch 32 and dimension 4096', () => {
    expect(ep('coder').slo.throughput).toEqual({
      sustainedTokensPerSecond: 80,
      burstTokensPerSecond: 150,
      embeddingsPerSecond: undefined,
      note: 'RTX 5090, chunked prefill enabled',
    });
    expect(ep('coder-fast').slo.throughput).toMatchObject({
      sustainedTokensPerSecond: 60,
      burstTokensPerSecond: 120,
    });
    expect(ep('deepseek-r1').slo.throughput).toMatchObject({
      sustainedTokensPerSecond: 40,
      burstTokensPerSecond: 80,
    });
    expect(ep('embeddings').slo).toMatchObject({
      throughput: { embeddingsPerSecond: 5000 },
      batchSize: 32,
      dimension: 4096,
    });
  });

  it('has availability targets with their windows and the recovery SLOs', () => {
    expect(
      fleet.endpoints.map((e) => [
        e.slo.availability.target,
        e.slo.availability.window,
        e.slo.availability.bestEffort,
        e.slo.recoveryMs,
      ]),
    ).toEqual([
      [0.99, 'business-hours', false, 300_000],
      [0.99, 'business-hours', false, 300_000],
      [0.995, 'always', false, 180_000],
      [0.99, 'business-hours', false, 600_000],
      [undefined, 'always', true, undefined],
    ]);
    expect(ep('deepseek-r1').slo.availability.note).toBe('best-effort async');
    const bh = fleet.windows.find((w) => w.name === 'business-hours')!;
    expect(bh).toMatchObject({
      days: [1, 2, 3, 4, 5],
      startMinute: 540,
      endMinute: 1080,
      timeZone: 'America/Los_Angeles',
    });
  });

  it('has the calibration method, recalibration triggers and environment adjustments', () => {
    expect(fleet.calibration).toMatchObject({
      warmupIterations: 50,
      iterations: 200,
      safetyMargin: 2,
      percentiles: [50, 95, 99],
      networkOverheadMs: { min: 10, max: 25 },
      ttftRoundingMs: 100,
      throughputRoundingTokensPerSecond: 500,
    });
    expect(fleet.recalibration).toEqual({
      hardwareChange: true,
      modelChange: true,
      sustainedViolations: { rate: 0.05, windowMs: 3_600_000, minRequests: 100 },
      optimizationWork: true,
    });
    expect(fleet.environments).toEqual({
      production: { tightenMin: 0.3, tightenMax: 0.5, apply: 0.3 },
      degraded: { ttftFactorMin: 2, ttftFactorMax: 4, apply: 4 },
      ci: { simulated: true, skipPerformanceAssertions: true },
      cpuOnly: { applicable: false, note: 'Not applicable — use remote endpoints' },
    });
  });

  it('has the deprecated OLLAMA_BASE_URL on port 11434', () => {
    expect(fleet.deprecated).toEqual([
      expect.objectContaining({
        env: 'OLLAMA_BASE_URL',
        url: 'http://192.168.86.200:11434',
        host: '192.168.86.200',
        port: 11434,
      }),
    ]);
  });

  it('warns once that the seed rounding step would erase throughput targets', () => {
    expect(fleet.warnings.map((w) => w.code)).toEqual(['rounding_erases_target']);
    expect(fleet.warnings[0]!.line).toBe(168);
  });

  it('is immutable', () => {
    expect(Object.isFrozen(fleet.endpoints[0]!.slo)).toBe(true);
  });
});

describe('env-var overrides and environment profiles', () => {
  it('replaces an endpoint URL with its env var, exactly as os.getenv does', () => {
    const f = loadFleet(EXAMPLE, { env: { LLM_CODER_URL: 'http://127.0.0.1:18000/' } });
    expect(f.endpoints[0]).toMatchObject({ url: 'http://127.0.0.1:18000', urlFromEnv: true });
    expect(f.endpoints[1]).toMatchObject({ url: 'http://192.168.86.201:8001', urlFromEnv: false });
  });

  it('makes a planned endpoint routable once its variable gives it an address', () => {
    const f = loadFleet(EXAMPLE, { env: { LLM_SMALL_URL: 'http://127.0.0.1:18005' } });
    expect(f.endpoints[4]).toMatchObject({ status: 'running', url: 'http://127.0.0.1:18005' });
  });

  it('rejects an env var that is not a URL, naming the variable', () => {
    expect(() => loadFleet(EXAMPLE, { env: { LLM_CODER_URL: 'not a url' } })).toThrow(
      /LLM_CODER_URL=not a url is not a URL/,
    );
  });

  it('production tightens latency by 30% and raises floors by 30%', () => {
    const f = loadFleet(EXAMPLE, { env: {}, environment: 'production' });
    expect(f.endpoints[0]!.slo.ttft).toEqual({ p95Ms: 1400, p99Ms: 2800 });
    expect(f.endpoints[0]!.slo.throughput.sustainedTokensPerSecond).toBe(104);
    expect(f.endpoints[0]!.baseSlo.ttft).toEqual({ p95Ms: 2000, p99Ms: 4000 });
  });

  it('degraded mode multiplies TTFT targets by the upper factor; CI keeps them', () => {
    expect(loadFleet(EXAMPLE, { env: {}, environment: 'degraded' }).endpoints[1]!.slo.ttft).toEqual({
      p95Ms: 3200,
      p99Ms: 6000,
    });
    expect(loadFleet(EXAMPLE, { env: {}, environment: 'ci' }).endpoints[1]!.slo.ttft).toEqual({
      p95Ms: 800,
      p99Ms: 1500,
    });
  });

  it('reads the profile from LLM_FLEET_ENV and rejects an unknown one', () => {
    expect(loadFleet(EXAMPLE, { env: { LLM_FLEET_ENV: 'production' } }).environment).toBe('production');
    expect(() => loadFleet(EXAMPLE, { env: { LLM_FLEET_ENV: 'staging' } })).toThrow(FleetError);
  });
});

describe('validation errors carry file:line:column, the field and a hint', () => {
  const cases: [string, (d: ReturnType<typeof parseDocument>) => void, Partial<FleetIssue>][] = [
    [
      'unknown field with a suggestion',
      (d) => d.setIn(['endpoints', 'coder', 'contxt'], '64K'),
      { code: 'unknown_field', hint: "did you mean 'context'?" },
    ],
    [
      'duration without unit',
      (d) => d.setIn(['endpoints', 'coder', 'slo', 'ttft', 'p95'], 2000),
      { code: 'invalid_value', field: 'endpoints.coder.slo.ttft.p95' },
    ],
    [
      'bad percentage',
      (d) => d.setIn(['endpoints', 'embeddings', 'slo', 'availability', 'target'], '150%'),
      { code: 'invalid_value' },
    ],
    [
      'unknown host',
      (d) => d.setIn(['endpoints', 'coder', 'host'], 'gpu-servr'),
      { code: 'unknown_host', field: 'endpoints.coder.host' },
    ],
    [
      'duplicate env var',
      (d) => d.setIn(['endpoints', 'coder-fast', 'env'], 'LLM_CODER_URL'),
      { code: 'duplicate_env' },
    ],
    [
      'deprecated env var on an endpoint',
      (d) => d.setIn(['endpoints', 'coder', 'env'], 'OLLAMA_BASE_URL'),
      { code: 'deprecated_env' },
    ],
    [
      'running endpoint with port TBD',
      (d) => d.setIn(['endpoints', 'coder', 'port'], 'TBD'),
      { code: 'port_tbd' },
    ],
    [
      'two endpoints on one address',
      (d) => d.setIn(['endpoints', 'coder-fast', 'port'], 8000),
      { code: 'duplicate_address' },
    ],
    [
      'endpoint on the decommissioned port',
      (d) => d.setIn(['endpoints', 'embeddings', 'port'], 11434),
      { code: 'deprecated_address' },
    ],
    [
      'unknown fallback',
      (d) => d.setIn(['endpoints', 'coder', 'fallbacks'], ['coder-fats']),
      { code: 'unknown_endpoint' },
    ],
    [
      'self fallback',
      (d) => d.setIn(['endpoints', 'coder', 'fallbacks'], ['coder']),
      { code: 'self_fallback' },
    ],
    [
      'embeddings on mlx',
      (d) => d.setIn(['endpoints', 'embeddings', 'dialect'], 'mlx'),
      { code: 'dialect_kind' },
    ],
    [
      'unknown availability window',
      (d) => d.setIn(['endpoints', 'coder', 'slo', 'availability', 'window'], 'office-hours'),
      { code: 'unknown_window' },
    ],
    [
      'P95 above P99',
      (d) => d.setIn(['endpoints', 'coder', 'slo', 'ttft', 'p95'], '5000ms'),
      { code: 'p95_above_p99', field: 'endpoints.coder.slo.ttft.p95' },
    ],
    [
      'sustained above burst',
      (d) => d.setIn(['endpoints', 'coder', 'slo', 'throughput', 'sustained'], 200),
      { code: 'sustained_above_burst' },
    ],
    [
      'unknown endpoint in a routing rule',
      (d) => d.setIn(['routing', 'rules', 0, 'endpoint'], 'coders'),
      { code: 'unknown_endpoint', field: 'routing.rules.0.endpoint' },
    ],
    [
      'routing to a deprecated endpoint',
      (d) => d.setIn(['routing', 'rules', 1, 'endpoint'], 'OLLAMA_BASE_URL'),
      { code: 'routes_to_deprecated', hint: 'route to an endpoint of the inventory' },
    ],
    [
      'routing to the deprecated variable by name',
      (d) => d.setIn(['routing', 'default'], 'ollama'),
      { code: 'unknown_endpoint' },
    ],
    ['unknown task', (d) => d.setIn(['routing', 'rules', 0, 'task'], 'poetry'), { code: 'unknown_task' }],
    [
      'threshold larger than the window',
      (d) => d.setIn(['routing', 'rules', 1, 'tokens'], '<= 50000'),
      { code: 'threshold_exceeds_window', field: 'routing.rules.1.tokens' },
    ],
    [
      'embeddings routed to a chat endpoint',
      (d) => d.setIn(['routing', 'rules', 3, 'endpoint'], 'coder'),
      { code: 'kind_mismatch' },
    ],
    [
      'business hours ending before they start',
      (d) => d.setIn(['windows', 'business-hours', 'end'], '08:00'),
      { code: 'window_order' },
    ],
    [
      'bad time zone',
      (d) => d.setIn(['windows', 'business-hours', 'timezone'], 'Pacific'),
      { code: 'invalid_value' },
    ],
  ];

  it.each(cases)('%s', (_name, edit, expected) => {
    const issues = issuesAfter(edit);
    expect(issues[0]).toMatchObject({ file: 'edited.yaml', ...expected });
    expect(issues[0]!.line).toBeGreaterThan(0);
    expect(issues[0]!.column).toBeGreaterThan(0);
  });

  it('points at the exact line of the bad value', () => {
    const bad = text.replace('ttft: { p95: 800ms, p99: 1500ms }', 'ttft: { p95: 1800ms, p99: 1500ms }');
    const line = bad.split('\n').findIndex((l) => l.includes('p95: 1800ms')) + 1;
    try {
      parseFleet(bad, 'x.yaml', { env: {} });
      expect.unreachable();
    } catch (error) {
      const issue = (error as FleetValidationError).issues[0]!;
      expect([issue.code, issue.line]).toEqual(['p95_above_p99', line]);
      expect((error as Error).message).toContain(`x.yaml:${line}:`);
      expect(issue.hint).toMatch(/swap them/);
    }
  });

  it('reports YAML syntax errors with their line', () => {
    try {
      parseFleet('version: 1\nhosts:\n  a: [1, 2\n', 'broken.yaml');
      expect.unreachable();
    } catch (error) {
      expect((error as FleetValidationError).issues[0]).toMatchObject({
        code: 'yaml_syntax',
        file: 'broken.yaml',
      });
    }
  });

  it('reports a missing file with a hint, not a stack trace', () => {
    expect(() => loadFleet('nope.yaml')).toThrow(
      expect.objectContaining({ code: 'fleet_not_found', hint: expect.stringContaining('--fleet') }),
    );
  });

  it('collects every problem, never a half-loaded fleet', () => {
    const issues = issuesAfter((d) => {
      d.setIn(['endpoints', 'coder', 'host'], 'nowhere');
      d.setIn(['routing', 'rules', 0, 'endpoint'], 'nothing');
    });
    expect(issues.map((i) => i.code)).toEqual(['unknown_host', 'unknown_endpoint']);
  });
});

describe('rounding steps never erase a target', () => {
  it.each([
    [80, 500, 10],
    [150, 500, 10],
    [60, 500, 5],
    [40, 500, 5],
    [5000, 500, 500],
    [4000, 500, 500],
    [3000, 500, 200],
    [7, 500, 1],
  ])('%d tok/s at step %d uses step %d', (value, step, expected) => {
    expect(effectiveRoundingStep(value, step)).toBe(expected);
    expect(Math.round(value / expected) * expected).toBeGreaterThan(0);
  });
});

describe('per-key rate limits in the gateway section', () => {
  it('reads keys with their own allowance beside plain keys, and a default for the others', () => {
    const edited = text.replace(
      'gateway:\n',
      'gateway:\n  apiKeys:\n    - sk-plain-key-01\n    - { key: sk-team-coder-01, name: coder-team, requestsPerMinute: 60, tokensPerMinute: 100000 }\n  rateLimit: { requestsPerMinute: 600 }\n',
    );
    const f = parseFleet(edited, 'limits.yaml', { env: {} });
    expect(f.gateway.apiKeys).toEqual(['sk-plain-key-01', 'sk-team-coder-01']);
    expect(f.gateway.keyLimits).toEqual([
      { key: 'sk-team-coder-01', name: 'coder-team', requestsPerMinute: 60, tokensPerMinute: 100000 },
    ]);
    expect(f.gateway.rateLimit).toEqual({ requestsPerMinute: 600 });
  });

  it('refuses an allowance that is not a whole number, with its line', () => {
    const edited = text.replace('gateway:\n', 'gateway:\n  rateLimit: { requestsPerMinute: 10K }\n');
    const line = edited.split('\n').findIndex((l) => l.includes('10K')) + 1;
    try {
      parseFleet(edited, 'limits.yaml', { env: {} });
      expect.unreachable();
    } catch (error) {
      expect((error as FleetValidationError).issues[0]).toMatchObject({ file: 'limits.yaml', line });
    }
  });
});
