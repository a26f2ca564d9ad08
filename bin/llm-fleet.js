#!/usr/bin/env node
// In a clone the CLI runs from TypeScript source with Node 24's built-in type stripping (no build
// step). An installed package has no src/ (Node will not strip types under node_modules) and runs
// the JavaScript that `npm pack` built into dist/.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `llm-fleet needs Node.js >= 24 (this is ${process.version}). Run it through npm (npm run llm-fleet -- …) or npx, which use the Node 24 that npm ci installs.`,
  );
  process.exit(2);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(
  existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href
);
process.exitCode = await main(process.argv.slice(2));
