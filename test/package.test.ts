// The package as a user gets it: `npm pack` (whose prepack builds dist/), unpacked as
// node_modules/llm-fleet of a fresh project. Node will not strip types under node_modules, so the
// installed CLI and library must run from dist/ without any TypeScript source. Nothing is
// downloaded: the unpacked package finds its dependencies in this repository's node_modules (the
// project sits under it), and a static check holds every package dist/ imports to the
// `dependencies` of package.json, which is what `npm install` would bring.
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(join(root, 'test-artifacts'), { recursive: true });
const work = mkdtempSync(join(root, 'test-artifacts', 'package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    // npm stays offline: packing needs no registry, and this test must not reach one.
    env: {
      ...process.env,
      LLM_FLEET_LOOPBACK_ONLY: '1',
      npm_config_update_notifier: 'false',
      npm_config_offline: 'true',
      npm_config_registry: 'http://127.0.0.1:9/',
    },
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
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    writeFileSync(
      join(app, 'package.json'),
      '{"name":"app","version":"1.0.0","type":"module","private":true}',
    );
    run('tar', ['xzf', join(work, packed[0]!.filename), '-C', work], work);
    renameSync(join(work, 'package'), join(app, 'node_modules', 'llm-fleet'));
    const installed = join(app, 'node_modules', 'llm-fleet');
    expect(existsSync(join(installed, 'src'))).toBe(false);

    // Every package the built code imports is a runtime dependency (or part of Node).
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.js')) {
          const text = readFileSync(path, 'utf8');
          // Module-level import/export statements (tsc writes them at column 0) and dynamic imports.
          const specs = [
            ...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^'.][^']*)'/gm),
            ...text.matchAll(/^import\s+'([^'.][^']*)'/gm),
            ...text.matchAll(/\bimport\(\s*'([^'.][^']*)'\s*\)/g),
          ];
          for (const m of specs) {
            const spec = m[1] as string;
            imported.add(
              spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string),
            );
          }
        }
      }
    };
    walk(join(installed, 'dist'));
    expect(imported.size).toBeGreaterThan(3);
    const missing = [...imported].filter(
      (name) =>
        !name.startsWith('node:') && !builtinModules.includes(name) && !(name in manifest.dependencies),
    );
    expect(missing).toEqual([]);

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
