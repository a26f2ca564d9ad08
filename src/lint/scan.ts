// Walks paths the way git would see them (.gitignore respected, .git and node_modules skipped),
// skips binaries, and lints each text file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ignore from 'ignore';
import type { Ignore } from 'ignore';
import type { Fleet } from '../fleet/index.ts';
import { FleetError } from '../errors.ts';
import type { Finding } from './rules.ts';
import { buildMatchers, lintText } from './rules.ts';

const ALWAYS_SKIPPED = new Set(['.git', 'node_modules']);
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export interface ScanResult {
  readonly findings: readonly Finding[];
  readonly filesScanned: number;
  readonly skippedBinary: number;
}

export function scanPaths(fleet: Fleet, paths: readonly string[], cwd = process.cwd()): ScanResult {
  const matchers = buildMatchers(fleet);
  const findings: Finding[] = [];
  let filesScanned = 0;
  let skippedBinary = 0;

  const visitFile = (absolute: string) => {
    const st = statSync(absolute);
    if (st.size > MAX_FILE_BYTES) return;
    const bytes = readFileSync(absolute);
    if (bytes.subarray(0, 8000).includes(0)) {
      skippedBinary++;
      return;
    }
    filesScanned++;
    const shown = relative(cwd, absolute).split(sep).join('/') || absolute;
    findings.push(...lintText(bytes.toString('utf8'), shown, matchers));
  };

  const visitDir = (dir: string, rules: { base: string; ig: Ignore }[]) => {
    const own = readGitignore(dir);
    const scoped = own ? [...rules, { base: dir, ig: own }] : rules;
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (ALWAYS_SKIPPED.has(entry.name)) continue;
      const absolute = join(dir, entry.name);
      const isDir = entry.isDirectory();
      if (
        scoped.some(({ base, ig }) =>
          ig.ignores(relative(base, absolute).split(sep).join('/') + (isDir ? '/' : '')),
        )
      )
        continue;
      if (isDir) visitDir(absolute, scoped);
      else if (entry.isFile()) visitFile(absolute);
    }
  };

  for (const p of paths.length ? paths : ['.']) {
    const absolute = resolve(cwd, p);
    let st;
    try {
      st = statSync(absolute);
    } catch {
      throw new FleetError('lint_path', `no such file or directory: ${p}`, {
        hint: 'pass files or folders to scan',
      });
    }
    // A file named explicitly is scanned even if ignored; folders honour .gitignore files from the root down.
    if (st.isDirectory()) visitDir(absolute, ancestorsIgnores(absolute, cwd));
    else visitFile(absolute);
  }
  return { findings, filesScanned, skippedBinary };
}

function readGitignore(dir: string): Ignore | undefined {
  try {
    return ignore().add(readFileSync(join(dir, '.gitignore'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** .gitignore files of the folders above a scanned folder, up to the working directory. */
function ancestorsIgnores(dir: string, cwd: string): { base: string; ig: Ignore }[] {
  const out: { base: string; ig: Ignore }[] = [];
  const root = resolve(cwd);
  let current = resolve(dir, '..');
  while (current.startsWith(root) && current !== dir) {
    const ig = readGitignore(current);
    if (ig) out.unshift({ base: current, ig });
    if (current === root) break;
    current = resolve(current, '..');
  }
  return out;
}
