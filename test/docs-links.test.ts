// A clone is self-contained: README.md and the pages under docs/ link only to files that are in the
// repository (the design and reference pages live in docs/, not in a sibling ../shared a clone
// does not have). Web addresses (http/https) are references to the public projects, not files.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** Every link target in a markdown text: `[text](target)`, `![alt](target)` and `<img src="target">`. */
export function linkTargets(text: string): string[] {
  const out: string[] = [];
  // Fenced code shows commands and output, not links.
  const prose = text.replace(/^```[\s\S]*?^```/gm, '');
  for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1] as string);
  for (const m of prose.matchAll(/<img[^>]*\ssrc="([^"]+)"/g)) out.push(m[1] as string);
  return out;
}

/** What is wrong with one link from `file` (undefined when it is fine). */
export function linkProblem(file: string, target: string): string | undefined {
  if (/^(https?:|mailto:)/.test(target) || target.startsWith('#')) return undefined;
  if (/^[a-z]+:/i.test(target)) return `${target}: not a file in the repository`;
  const path = decodeURIComponent(target.split('#')[0] as string);
  const abs = path.startsWith('/') ? path : resolve(dirname(file), path);
  const rel = relative(ROOT, abs);
  if (rel.startsWith('..') || rel.startsWith(sep) || path.startsWith('/'))
    return `${target}: outside the repository`;
  if (!existsSync(abs)) return `${target}: no such file (${rel})`;
  return undefined;
}

const files = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];

describe('README and docs/ link only inside the repository', () => {
  it('finds the pages and their links', () => {
    expect(files.map((f) => relative(ROOT, f))).toContain('docs/architecture.md');
    expect(linkTargets('[a](docs/x.md) ![b](y.png "t") <img src="z.png"> [c](#d)')).toEqual([
      'docs/x.md',
      'y.png',
      '#d',
      'z.png',
    ]);
  });

  it('judges a link the way a clone would', () => {
    const readme = join(ROOT, 'README.md');
    expect(linkProblem(readme, 'docs/architecture.md')).toBeUndefined();
    expect(linkProblem(readme, '../shared/design/architecture.md')).toMatch(/outside the repository/);
    expect(linkProblem(readme, '/work/shared/x.md')).toMatch(/outside the repository/);
    expect(linkProblem(readme, 'docs/nothing-here.md')).toMatch(/no such file/);
    expect(linkProblem(readme, 'https://example.org/x')).toBeUndefined();
  });

  for (const file of files) {
    it(`${relative(ROOT, file)}: every relative link resolves to a file in the repository`, () => {
      const text = readFileSync(file, 'utf8');
      const problems = linkTargets(text)
        .map((t) => linkProblem(file, t))
        .filter((p) => p !== undefined);
      expect(problems).toEqual([]);
      // A path written as code is a link too, for a reader: none may point at a sibling checkout.
      expect(text.match(/\.\.\/shared\/[\w./-]+|\/work\/[\w./-]+/g) ?? []).toEqual([]);
    });
  }
});
