import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.ts';

const FLEET = ['-f', 'examples/onex.fleet.yaml'];

const run = runCli;

describe('llm-fleet validate', () => {
  it('prints the effective inventory, targets and routing matrix', async () => {
    const r = await run(['validate', ...FLEET]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('onex: 5 endpoints on 3 hosts');
    expect(r.out).toMatch(/coder-fast\s+│ LLM_CODER_FAST_URL\s+│ http:\/\/192\.168\.86\.201:8001/);
    expect(r.out).toMatch(/embeddings\s+│ 200ms\s+│ 400ms\s+│ 5000 emb\/s/);
    expect(r.out).toContain('deprecated: OLLAMA_BASE_URL (http://192.168.86.200:11434)');
    expect(r.err).toContain('[rounding_erases_target]');
  });

  it('shows env overrides and the production profile in --json', async () => {
    const r = await run(['validate', ...FLEET, '--env', 'production', '--json'], {
      LLM_CODER_URL: 'http://127.0.0.1:18000',
    });
    const fleet = JSON.parse(r.out);
    expect(fleet.environment).toBe('production');
    expect(fleet.endpoints[0]).toMatchObject({
      url: 'http://127.0.0.1:18000',
      slo: { ttft: { p95Ms: 1400, p99Ms: 2800 } },
    });
  });

  it('exits 2 with file:line and a hint for a broken file, and no stack trace', async () => {
    const r = await run(['validate', '-f', 'test/fixtures/broken.fleet.yaml']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /test\/fixtures\/broken\.fleet\.yaml:\d+:\d+: endpoints\.coder\.slo\.ttft\.p95: TTFT P95 target 5000ms is above the P99 target 4000ms \[p95_above_p99\]/,
    );
    expect(r.err).toContain('hint:');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for an unknown option', async () => {
    expect((await run(['validate', '--nope'])).code).toBe(2);
  });
});

describe('llm-fleet route', () => {
  it('prints the chosen URL, the reason and the fallbacks', async () => {
    const r = await run(['route', ...FLEET, '--task', 'code', '--tokens', '52000']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('http://192.168.86.201:8000');
    expect(r.out).toContain('reason    coder: code, 52000 tokens > 40000 → 64K window, large file context');
  });

  it('lists fallbacks for classification and honours --down', async () => {
    const r = await run([
      'route',
      ...FLEET,
      '--task',
      'routing',
      '--tokens',
      '900',
      '--down',
      'coder-fast',
      '--json',
    ]);
    const d = JSON.parse(r.out);
    expect(d.endpoint).toBe('coder');
    expect(d.fallbacks.map((f: { endpoint: string }) => f.endpoint)).toEqual(['deepseek-r1', 'coder-fast']);
  });

  it('exits 1 when nothing can take the request', async () => {
    const r = await run(['route', ...FLEET, '--task', 'code', '--tokens', '70k']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^no endpoint: no endpoint can take this request/);
  });

  it('exits 2 on a bad token count', async () => {
    const r = await run(['route', ...FLEET, '--task', 'code', '--tokens', 'many']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('expected a whole number of tokens');
  });
});

describe('llm-fleet lint', () => {
  it('finds the planted OLLAMA_BASE_URL, its address and port, and hard-coded endpoints', async () => {
    const r = await run(['lint', ...FLEET, 'test/fixtures/lint', '--format', 'json']);
    expect(r.code).toBe(1);
    const { findings, filesScanned, skippedBinary } = JSON.parse(r.out);
    expect(filesScanned).toBe(3); // client.py, docker-compose.yml, .gitignore; ignored/ and the binary are not read
    expect(skippedBinary).toBe(1);
    expect(
      findings.map(
        (f: { file: string; line: number; column: number; rule: string }) =>
          `${f.file}:${f.line}:${f.column} ${f.rule}`,
      ),
    ).toEqual([
      'test/fixtures/lint/legacy/client.py:4:21 deprecated-env',
      'test/fixtures/lint/legacy/client.py:4:47 deprecated-address',
      'test/fixtures/lint/legacy/client.py:8:47 hardcoded-endpoint',
      'test/fixtures/lint/legacy/docker-compose.yml:8:27 deprecated-port',
    ]);
    expect(findings[0].replacement).toContain(
      'LLM_CODER_URL, LLM_CODER_FAST_URL, LLM_EMBEDDING_URL, LLM_DEEPSEEK_R1_URL',
    );
  });

  it('reports file:line:column with the replacement in text', async () => {
    const r = await run(['lint', ...FLEET, 'test/fixtures/lint/legacy/client.py']);
    expect(r.out).toContain(
      'test/fixtures/lint/legacy/client.py:4:21: deprecated-env: OLLAMA_BASE_URL is decommissioned',
    );
    expect(r.out).toContain('→ read LLM_CODER_URL');
    expect(r.out.trim().split('\n').at(-1)).toBe('3 findings in 1 of 1 files');
  });

  it('writes SARIF 2.1.0 that code-scanning tools load', async () => {
    const r = await run(['lint', ...FLEET, 'test/fixtures/lint/legacy', '--format', 'sarif']);
    const sarif = JSON.parse(r.out);
    expect(sarif.version).toBe('2.1.0');
    const run0 = sarif.runs[0];
    expect(run0.tool.driver.rules.map((x: { id: string }) => x.id)).toEqual([
      'deprecated-env',
      'deprecated-address',
      'deprecated-port',
      'hardcoded-endpoint',
    ]);
    expect(run0.results[0]).toMatchObject({
      ruleId: 'deprecated-env',
      level: 'error',
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'test/fixtures/lint/legacy/client.py' },
            region: { startLine: 4, startColumn: 21, endColumn: 36 },
          },
        },
      ],
    });
  });

  it('exits 0 on clean code', async () => {
    const r = await run(['lint', ...FLEET, 'src/lint']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^no deprecated or hard-coded endpoints in \d+ files/);
  });
});
