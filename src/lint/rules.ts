// What counts as a finding: the fleet file's deprecated endpoints (their variable names, their
// host:port, their port) and hard-coded addresses of live endpoints that should come from their
// env var. Pure: text in, findings out.
import type { Fleet } from '../fleet/index.ts';

export type LintRuleId = 'deprecated-env' | 'deprecated-address' | 'deprecated-port' | 'hardcoded-endpoint';

export interface LintRule {
  readonly id: LintRuleId;
  readonly description: string;
  readonly level: 'error' | 'warning';
}

export const RULES: readonly LintRule[] = [
  { id: 'deprecated-env', level: 'error', description: 'Reads the variable of a decommissioned endpoint' },
  { id: 'deprecated-address', level: 'error', description: 'Names the address of a decommissioned endpoint' },
  { id: 'deprecated-port', level: 'error', description: 'Names the port of a decommissioned endpoint' },
  {
    id: 'hardcoded-endpoint',
    level: 'warning',
    description: 'Hard-codes an endpoint address that should be read from its env var',
  },
];

export interface Finding {
  readonly rule: LintRuleId;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endColumn: number;
  readonly match: string;
  readonly message: string;
  /** What to use instead, from the fleet file. */
  readonly replacement: string;
}

interface Matcher {
  readonly rule: LintRuleId;
  /** A line matching this is where the value belongs (e.g. `LLM_CODER_URL=http://…`): not reported. */
  readonly allowedOn?: RegExp;
  readonly pattern: RegExp;
  readonly message: (match: string) => string;
  readonly replacement: string;
}

/** Lines carrying this marker are not reported (e.g. a migration note that must name the old variable). */
export const SUPPRESS_MARKER = 'llm-fleet-lint-ignore';

export function buildMatchers(fleet: Fleet): Matcher[] {
  const matchers: Matcher[] = [];
  const envOf = (name: string) => fleet.endpoints.find((e) => e.name === name)?.env ?? name;
  for (const d of fleet.deprecated) {
    const replacement = d.replacements.length
      ? `use ${d.replacements.map(envOf).join(', ')} by task (llm-fleet route), or the llm-fleet gateway URL`
      : 'use an endpoint of the inventory';
    matchers.push({
      rule: 'deprecated-env',
      pattern: new RegExp(`\\b${escape(d.env)}\\b`, 'g'),
      message: () => `${d.env} is decommissioned (${d.status})`,
      replacement,
    });
    if (d.host && d.port) {
      matchers.push({
        rule: 'deprecated-address',
        pattern: new RegExp(`${escape(d.host)}:${d.port}\\b`, 'g'),
        message: (m) => `${m} is the decommissioned ${d.env} (${d.status})`,
        replacement,
      });
      // The port on its own: `:11434`, `port 11434`, `PORT=11434`, `port: 11434` — not inside a longer number. (llm-fleet-lint-ignore)
      matchers.push({
        rule: 'deprecated-port',
        pattern: new RegExp(`(?<![\\d.])(?::|\\bport["']?\\s*[=:,]?\\s*["']?)${d.port}(?!\\d)`, 'gi'),
        message: () => `port ${d.port} belonged to the decommissioned ${d.env}`,
        replacement,
      });
    }
  }
  const hosts = new Map(fleet.hosts.map((h) => [h.name, h.address]));
  for (const e of fleet.endpoints) {
    const address = hosts.get(e.host);
    if (!address || e.port === undefined) continue;
    matchers.push({
      rule: 'hardcoded-endpoint',
      pattern: new RegExp(`${escape(address)}:${e.port}(?!\\d)`, 'g'),
      message: (m) => `${m} is hard-coded; it is ${e.name} (${e.model})`,
      allowedOn: new RegExp(`\\b${escape(e.env)}["']?\\s*[=:]`),
      replacement: `read ${e.env} (e.g. os.environ["${e.env}"] / process.env.${e.env}) without a hard-coded default`,
    });
  }
  return matchers;
}

export function lintText(text: string, file: string, matchers: readonly Matcher[]): Finding[] {
  const findings: Finding[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((line, index) => {
    if (line.includes(SUPPRESS_MARKER)) return;
    const taken: [number, number][] = [];
    for (const m of matchers) {
      if (m.allowedOn?.test(line)) continue;
      for (const match of line.matchAll(m.pattern)) {
        const start = match.index;
        const end = start + match[0].length;
        // A deprecated address also contains the deprecated port: report the most specific finding once.
        if (taken.some(([s, e]) => start < e && end > s)) continue;
        taken.push([start, end]);
        findings.push({
          rule: m.rule,
          file,
          line: index + 1,
          column: start + 1,
          endColumn: end + 1,
          match: match[0],
          message: m.message(match[0]),
          replacement: m.replacement,
        });
      }
    }
  });
  return findings.sort((a, b) => a.line - b.line || a.column - b.column);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
