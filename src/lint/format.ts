// Output formats for lint findings: text for people, JSON for scripts, SARIF 2.1.0 for code scanning.
import type { Finding } from './rules.ts';
import { RULES } from './rules.ts';

export function formatText(findings: readonly Finding[], filesScanned: number): string {
  const lines = findings.map(
    (f) => `${f.file}:${f.line}:${f.column}: ${f.rule}: ${f.message}\n    → ${f.replacement}`,
  );
  const summary = findings.length
    ? `${findings.length} finding${findings.length === 1 ? '' : 's'} in ${new Set(findings.map((f) => f.file)).size} of ${filesScanned} files`
    : `no deprecated or hard-coded endpoints in ${filesScanned} files`;
  return [...lines, summary].join('\n') + '\n';
}

export function formatSarif(findings: readonly Finding[], version: string): object {
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'llm-fleet',
            version,
            informationUri: 'https://www.npmjs.com/package/llm-fleet',
            rules: RULES.map((r) => ({
              id: r.id,
              shortDescription: { text: r.description },
              defaultConfiguration: { level: r.level },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: RULES.findIndex((r) => r.id === f.rule),
          level: RULES.find((r) => r.id === f.rule)?.level ?? 'warning',
          message: { text: `${f.message}. Fix: ${f.replacement}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file },
                region: { startLine: f.line, startColumn: f.column, endColumn: f.endColumn },
              },
            },
          ],
        })),
      },
    ],
  };
}
