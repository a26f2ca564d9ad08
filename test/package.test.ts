// The package as a user gets it: `npm pack` (whose prepack builds dist/), installed into a fresh
// project from the tarball. Node will not strip types under node_modules, so the installed CLI,
// library and dashboard must run from dist/ without any TypeScript source.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'llm-fleet-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1', npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('the published package', () => {
  it('installs from its tarball and runs the CLI and the library from dist/', () => {
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], root)) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/dashboard/assets/app.js');
    expect(files).toContain('examples/onex.fleet.yaml');
    expect(files.filter((f) => f.startsWith('src/') || f.endsWith('.test.js'))).toEqual([]);

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      '{"name":"app","version":"1.0.0","type":"module","private":true}',
    );
    run(
      'npm',
      ['install', join(work, packed[0]!.filename), '--prefer-offline', '--no-audit', '--no-fund'],
      app,
    );
    const installed = join(app, 'node_modules', 'llm-fleet');
    expect(existsSync(join(installed, 'src'))).toBe(false);

    const fleetFile = join(installed, 'examples', 'onex.fleet.yaml');
    const routed = run(
      process.execPath,
      [
        join(installed, 'bin', 'llm-fleet.js'),
        'route',
        '-f',
        fleetFile,
        '--task',
        'code',
        '--tokens',
        '50000',
      ],
      app,
    );
    expect(routed.split('\n')[0]).toBe('http://192.168.86.201:8000');

    writeFileSync(
      join(app, 'use.mjs'),
      `import { loadFleet, selectLlmEndpoint } from 'llm-fleet';
const fleet = loadFleet(${JSON.stringify(fleetFile)}, { env: { LLM_EMBEDDING_URL: 'http://127.0.0.1:18100' } });
console.log(selectLlmEndpoint(fleet, 'embedding', 10));`,
    );
    expect(run(process.execPath, ['use.mjs'], app).trim()).toBe('http://127.0.0.1:18100');
  }, 180_000);
});
