import { describe, expect, it } from 'vitest';
// Imported by package name, as an application would.
import { loadFleet, selectEndpoint, selectLlmEndpoint } from 'llm-fleet';

describe("import { loadFleet, selectEndpoint } from 'llm-fleet'", () => {
  it('routes client-side with env overrides, like the seed function', () => {
    const fleet = loadFleet('examples/onex.fleet.yaml', {
      env: { LLM_EMBEDDING_URL: 'http://127.0.0.1:18100' },
    });
    expect(selectLlmEndpoint(fleet, 'embedding', 10)).toBe('http://127.0.0.1:18100');
    expect(selectLlmEndpoint(fleet, 'code', 50_000)).toBe('http://192.168.86.201:8000');
    expect(selectEndpoint(fleet, { task: 'reasoning', promptTokens: 100 }).candidates[0]?.endpoint.env).toBe(
      'LLM_DEEPSEEK_R1_URL',
    );
    expect(() => selectLlmEndpoint(fleet, 'code', 100_000)).toThrow(/no endpoint can take this request/);
  });
});
