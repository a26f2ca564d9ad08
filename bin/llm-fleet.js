#!/usr/bin/env node
// The CLI runs from TypeScript source with Node 24's built-in type stripping (no build step).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `llm-fleet needs Node.js >= 24 (this is ${process.version}). Run it through npm (npm run llm-fleet -- …) or npx, which use the Node 24 that npm ci installs.`,
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
