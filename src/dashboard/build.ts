// Bundles the dashboard's browser code and styles (with uPlot) into src/dashboard/assets/. The
// output is committed, so llm-fleet runs from source with no build step and no esbuild at run time;
// `build.test.ts` fails when the committed bundle differs from a fresh build.
//   npm run build:dashboard          write the bundle
//   node src/dashboard/build.ts --check   exit 1 when the committed bundle is stale
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = new URL('./', import.meta.url);

export interface Bundle {
  readonly 'app.js': string;
  readonly 'app.css': string;
}

export async function buildBundle(): Promise<Bundle> {
  const common = {
    bundle: true,
    minify: true,
    write: false as const,
    legalComments: 'none' as const,
    logLevel: 'silent' as const,
    target: ['chrome120', 'firefox120', 'safari17'],
  };
  const js = await esbuild.build({
    ...common,
    entryPoints: [fileURLToPath(new URL('client/main.ts', here))],
    format: 'esm',
  });
  // One stylesheet: uPlot's own rules first, ours after so they win.
  const uplotCss = fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css'));
  const css = await esbuild.build({
    ...common,
    stdin: {
      contents: `@import ${JSON.stringify(uplotCss)};\n@import ${JSON.stringify(fileURLToPath(new URL('client/style.css', here)))};\n`,
      loader: 'css',
      resolveDir: fileURLToPath(here),
    },
  });
  return { 'app.js': text(js), 'app.css': text(css) };
}

function text(result: esbuild.BuildResult<{ write: false }>): string {
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
}

export async function staleAssets(): Promise<string[]> {
  const fresh = await buildBundle();
  const stale: string[] = [];
  for (const [name, content] of Object.entries(fresh)) {
    const committed = await readFile(new URL(`assets/${name}`, here), 'utf8').catch(() => '');
    if (committed !== content) stale.push(name);
  }
  return stale;
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = await staleAssets();
    if (stale.length > 0) {
      console.error(`dashboard bundle is stale: ${stale.join(', ')} — run npm run build:dashboard`);
      process.exitCode = 1;
    } else console.log('dashboard bundle is up to date');
  } else {
    const bundle = await buildBundle();
    for (const [name, content] of Object.entries(bundle)) {
      await writeFile(new URL(`assets/${name}`, here), content);
      console.log(`src/dashboard/assets/${name}  ${(Buffer.byteLength(content) / 1024).toFixed(1)} KiB`);
    }
  }
}
