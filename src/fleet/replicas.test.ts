// Replica pools in the fleet file: `replicas: [url, …]` after host:port, the env var replacing the
// whole pool (one URL or several, comma-separated), and file:line errors for a bad pool.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { FleetValidationError, formatIssue, parseFleet, replicasOf } from './index.ts';
import { FleetError } from '../errors.ts';

const text = readFileSync('examples/onex.fleet.yaml', 'utf8');

function withCoder(patch: Record<string, unknown>): string {
  const doc = parseDocument(text);
  for (const [k, v] of Object.entries(patch)) doc.setIn(['endpoints', 'coder', k], v);
  return doc.toString();
}

const coder = (yaml: string, env: NodeJS.ProcessEnv = {}) =>
  parseFleet(yaml, 'pool.yaml', { env }).endpoints.find((e) => e.name === 'coder')!;

function issues(yaml: string): string[] {
  try {
    parseFleet(yaml, 'pool.yaml', { env: {} });
  } catch (error) {
    if (error instanceof FleetValidationError) return error.issues.map(formatIssue);
    throw error;
  }
  throw new Error('expected the fleet to be invalid');
}

describe('replica pools in the fleet file', () => {
  it('host:port is the first replica, then the replicas in order; affinity defaults to 1.25', () => {
    const e = coder(withCoder({ replicas: ['http://192.168.86.202:8000/'] }));
    expect(replicasOf(e)).toEqual([
      { id: '0', url: 'http://192.168.86.201:8000' },
      { id: '1', url: 'http://192.168.86.202:8000' },
    ]);
    expect(e.url).toBe('http://192.168.86.201:8000');
    expect(e.affinity).toEqual({ loadFactor: 1.25, prefixChars: 1024 });
  });

  it('an endpoint without replicas is a pool of one', () => {
    expect(replicasOf(coder(text))).toEqual([{ id: '0', url: 'http://192.168.86.201:8000' }]);
  });

  it('the env var replaces the whole pool: one URL, or several separated by commas', () => {
    const yaml = withCoder({ replicas: ['http://192.168.86.202:8000'] });
    expect(replicasOf(coder(yaml, { LLM_CODER_URL: 'http://127.0.0.1:9000' }))).toEqual([
      { id: '0', url: 'http://127.0.0.1:9000' },
    ]);
    const e = coder(yaml, { LLM_CODER_URL: 'http://127.0.0.1:9000, http://127.0.0.1:9001' });
    expect(replicasOf(e).map((r) => r.url)).toEqual(['http://127.0.0.1:9000', 'http://127.0.0.1:9001']);
    expect(e.url).toBe('http://127.0.0.1:9000');
    expect(e.urlFromEnv).toBe(true);
  });

  it('a bad URL in the env var names the part and shows a pool', () => {
    expect(() => coder(text, { LLM_CODER_URL: 'http://127.0.0.1:9000,nope' })).toThrow(FleetError);
    try {
      coder(text, { LLM_CODER_URL: 'http://127.0.0.1:9000,nope' });
    } catch (error) {
      expect((error as FleetError).message).toContain("'nope' is not a URL");
      expect((error as FleetError).hint).toContain('http://127.0.0.1:8000,http://127.0.0.1:8001');
    }
  });

  it('a replica that is not a URL, repeats one, or is another endpoint is an error at its line', () => {
    const bad = issues(withCoder({ replicas: ['192.168.86.202:8000'] }));
    expect(bad.join('\n')).toMatch(
      /pool\.yaml:\d+:\d+.*replica '192\.168\.86\.202:8000' is not an http\(s\) URL/,
    );
    expect(bad.join('\n')).toContain('e.g. http://192.168.86.21:8000');
    const dup = issues(withCoder({ replicas: ['http://192.168.86.201:8000'] }));
    expect(dup.join('\n')).toMatch(/pool\.yaml:\d+:\d+.*already in coder's pool/);
    const other = issues(withCoder({ replicas: ['http://192.168.86.201:8001'] }));
    expect(other.join('\n')).toMatch(
      /pool\.yaml:\d+:\d+.*(already endpoint 'coder'|already endpoint 'coder-fast')/,
    );
  });

  it('affinity: false is load-only balancing; a load factor under 1 is refused', () => {
    const e = coder(withCoder({ replicas: ['http://192.168.86.202:8000'], affinity: false }));
    expect(e.affinity).toBe(false);
    const tight = issues(
      withCoder({ replicas: ['http://192.168.86.202:8000'], affinity: { loadFactor: 0.5 } }),
    );
    expect(tight.join('\n')).toMatch(/pool\.yaml:\d+:\d+.*loadFactor/);
  });
});
