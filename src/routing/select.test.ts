import { describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import type { EndpointHealth } from './index.ts';
import { routeToEndpoint, selectEndpoint } from './index.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const url = (name: string) => fleet.endpoints.find((e) => e.name === name)!.url;

/** The seed's select_llm_endpoint, transcribed line by line (with no env vars set). */
function seedSelect(task: string, tokenCount: number): string {
  if (task === 'embedding') return 'http://192.168.86.200:8100';
  if (task === 'reasoning') return 'http://192.168.86.200:8101';
  if (task === 'code' && tokenCount > 40_000) return 'http://192.168.86.201:8000';
  return 'http://192.168.86.201:8001';
}

describe('selectEndpoint agrees with the seed select_llm_endpoint', () => {
  const tasks = ['code', 'embedding', 'reasoning', 'classification', 'routing', 'auto'];
  const counts = [0, 1, 500, 8_000, 32_000, 39_999, 40_000, 40_001, 50_000, 60_000];
  const cases = tasks.flatMap((task) => counts.map((tokens) => ({ task, tokens })));
  // The seed covers requests that fit: its function never checks a window (R1 has 32K).
  const fits = cases.filter(
    ({ task, tokens }) =>
      !(task === 'reasoning' && tokens > 32_768) &&
      !(task !== 'code' && task !== 'embedding' && task !== 'auto' && tokens > 40_960),
  );

  it.each(fits)('$task with $tokens tokens', ({ task, tokens }) => {
    const seedTask = task === 'auto' ? 'code' : task === 'routing' ? 'classification' : task;
    const decision = selectEndpoint(fleet, { task, promptTokens: tokens });
    expect(decision.candidates[0]?.endpoint.url).toBe(seedSelect(seedTask, tokens));
  });

  it('covers the matrix rows the function leaves out: lightweight goes to small, which is planned, so to its fallback', () => {
    const decision = selectEndpoint(fleet, { task: 'lightweight', promptTokens: 100 });
    expect(decision.candidates.map((c) => c.endpoint.name)).toEqual(['coder-fast', 'coder', 'deepseek-r1']);
    expect(decision.skipped).toContainEqual({
      endpoint: 'small',
      why: 'planned (LLM_SMALL_URL not set, port TBD)',
    });
  });

  it('routes lightweight to small once LLM_SMALL_URL gives it an address', () => {
    const withSmall = loadFleet('examples/onex.fleet.yaml', { env: { LLM_SMALL_URL: 'http://127.0.0.1:9' } });
    expect(
      selectEndpoint(withSmall, { task: 'lightweight', promptTokens: 100 }).candidates[0]?.endpoint.name,
    ).toBe('small');
  });
});

describe('beyond the seed', () => {
  it('never sends a request where prompt + max_tokens does not fit the window', () => {
    const d = selectEndpoint(fleet, { task: 'code', promptTokens: 38_000, maxTokens: 4_000 });
    expect(d.candidates.map((c) => c.endpoint.name)).toEqual(['coder']);
    expect(d.skipped.find((s) => s.endpoint === 'coder-fast')?.why).toBe(
      'does not fit: 38000 prompt + 4000 max tokens = 42000 > 40960 window',
    );
    expect(d.reason).toMatch(/^coder: .* instead of coder-fast — does not fit/);
  });

  it('sends a reasoning prompt larger than R1 window to the 64K coder', () => {
    const d = selectEndpoint(fleet, { task: 'reasoning', promptTokens: 40_000 });
    // R1 (32K) is skipped; its fallback is the 64K coder; the 40K coder also fits, beyond the matrix.
    expect(d.candidates.map((c) => c.endpoint.name)).toEqual(['coder', 'coder-fast']);
    expect(d.skipped[0]?.endpoint).toBe('deepseek-r1');
  });

  it('returns no candidate, with every reason, when nothing fits', () => {
    const d = selectEndpoint(fleet, { task: 'code', promptTokens: 70_000 });
    expect(d.candidates).toEqual([]);
    expect(d.reason).toMatch(/^no endpoint can take this request \(coder: does not fit: 70000 prompt/);
  });

  it('skips endpoints marked down in favour of the next candidate, keeping them last', () => {
    const health = new Map<string, EndpointHealth>([['coder-fast', 'down']]);
    const d = selectEndpoint(fleet, { task: 'classification', promptTokens: 1_000, health });
    expect(d.candidates.map((c) => c.endpoint.name)).toEqual(['coder', 'deepseek-r1', 'coder-fast']);
    expect(d.reason).toBe('coder: fallback of the classification rule instead of coder-fast — marked down');
  });

  it('routes embeddings only to embeddings endpoints and chat only to chat endpoints', () => {
    expect(
      selectEndpoint(fleet, { task: 'embeddings', promptTokens: 10 }).candidates.map((c) => c.endpoint.name),
    ).toEqual(['embeddings']);
    const chat = selectEndpoint(fleet, { task: 'code', promptTokens: 10 }).candidates.map(
      (c) => c.endpoint.name,
    );
    expect(chat).not.toContain('embeddings');
  });

  it('rejects an unknown task with the list of tasks', () => {
    const d = selectEndpoint(fleet, { task: 'poetry', promptTokens: 10 });
    expect(d.candidates).toEqual([]);
    expect(d.reason).toMatch(
      /^unknown task 'poetry': use one of code, classification, embedding, reasoning, lightweight/,
    );
  });

  it('routes a model named directly to it, then to the fallbacks it names', () => {
    const d = routeToEndpoint(fleet, 'Qwen3-14B-AWQ', { promptTokens: 10 });
    expect(d.candidates.map((c) => c.endpoint.name)).toEqual(['coder-fast', 'coder']);
    expect(
      routeToEndpoint(fleet, 'deepseek-r1', { promptTokens: 10 }).candidates.map((c) => c.endpoint.name),
    ).toEqual(['deepseek-r1', 'coder']);
  });

  it('never routes to the deprecated OLLAMA_BASE_URL and says what to use instead', () => {
    const d = routeToEndpoint(fleet, 'OLLAMA_BASE_URL', { promptTokens: 10 });
    expect(d.candidates).toEqual([]);
    expect(d.reason).toBe(
      'OLLAMA_BASE_URL is decommissioned (Decommissioned — do not use); use coder, coder-fast, embeddings, deepseek-r1',
    );
  });

  it('never chooses an endpoint whose URL was pointed at the decommissioned address', () => {
    const f = loadFleet('examples/onex.fleet.yaml', {
      env: { LLM_CODER_FAST_URL: 'http://192.168.86.200:11434' },
    });
    const d = selectEndpoint(f, { task: 'classification', promptTokens: 10 });
    expect(d.candidates[0]?.endpoint.name).toBe('coder');
    expect(d.skipped).toContainEqual({ endpoint: 'coder-fast', why: 'its URL is a decommissioned endpoint' });
  });

  it('follows env var overrides exactly as the seed function does with os.getenv', () => {
    const f = loadFleet('examples/onex.fleet.yaml', { env: { LLM_CODER_URL: 'http://127.0.0.1:18000/' } });
    expect(selectEndpoint(f, { task: 'code', promptTokens: 50_000 }).candidates[0]?.endpoint.url).toBe(
      'http://127.0.0.1:18000',
    );
    expect(url('coder')).toBe('http://192.168.86.201:8000');
  });
});
