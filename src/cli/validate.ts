// `llm-fleet validate`: load the fleet file and print the effective fleet (after env overrides and
// the environment profile), or every problem with file:line:column and a hint.
import { Command } from 'commander';
import type { Fleet } from '../fleet/index.ts';
import { formatDuration, formatIssue, formatPercent, formatTokens } from '../fleet/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('validate'))
    .description('Validate a fleet file and print the effective inventory and targets')
    .option('--json', 'print the effective fleet as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet validate --fleet examples/onex.fleet.yaml
  LLM_CODER_URL=http://127.0.0.1:8000 llm-fleet validate -f examples/onex.fleet.yaml --env production --json

Exit codes: 0 valid · 2 invalid (each problem printed as file:line:column with a hint).`,
    )
    .action((options: FleetOptions & { json?: boolean }) => {
      const fleet = loadFleetFor(options, io);
      if (options.json) printJson(io, fleet);
      else io.out(renderFleet(fleet));
      for (const warning of fleet.warnings)
        io.err(`warning:${formatIssue(warning).trimStart().replace(/^/, ' ')}\n`);
    });
  program.addCommand(command);
};

export function renderFleet(fleet: Fleet): string {
  const lines: string[] = [];
  lines.push(
    `${fleet.name}: ${fleet.endpoints.length} endpoints on ${fleet.hosts.length} hosts (${fleet.source}, environment ${fleet.environment})\n`,
  );
  lines.push(
    table(
      ['endpoint', 'env var', 'url', 'model', 'dialect', 'context', 'status'],
      fleet.endpoints.map((e) => [
        e.name,
        e.env,
        e.url
          ? `${e.url}${e.urlFromEnv ? ' (env)' : ''}`
          : `${fleet.hosts.find((h) => h.name === e.host)?.address}:${e.port ?? 'TBD'}`,
        e.model,
        e.dialect,
        e.contextWindowTokens ? formatTokens(e.contextWindowTokens) : e.kind === 'embeddings' ? 'N/A' : '—',
        e.status,
      ]),
    ),
  );
  lines.push(
    table(
      ['endpoint', 'TTFT P95', 'TTFT P99', 'sustained', 'burst', 'availability', 'recovery'],
      fleet.endpoints.map((e) => {
        const s = e.slo;
        const t = s.throughput;
        if (e.judged === false) return [e.name, 'no slo: measured, never judged', '', '', '', '', ''];
        return [
          e.name,
          s.ttft ? `${s.ttft.p95Ms}ms` : 'TBD',
          s.ttft ? `${s.ttft.p99Ms}ms` : 'TBD',
          t.embeddingsPerSecond
            ? `${t.embeddingsPerSecond} emb/s`
            : t.sustainedTokensPerSecond
              ? `${t.sustainedTokensPerSecond} tok/s`
              : 'TBD',
          t.burstTokensPerSecond ? `${t.burstTokensPerSecond} tok/s` : '—',
          s.availability.bestEffort
            ? 'best-effort'
            : `${formatPercent(s.availability.target ?? 0)} (${s.availability.window})`,
          s.recoveryMs !== undefined ? formatDuration(s.recoveryMs) : '—',
        ];
      }),
    ),
  );
  lines.push(
    table(
      ['task', 'tokens', 'endpoint', 'fallbacks', 'rationale'],
      fleet.routing.rules.map((r) => [
        r.taskLabel,
        r.tokenLabel,
        r.endpoint,
        r.fallbacks.join(', ') || '—',
        r.rationale,
      ]),
    ),
  );
  for (const d of fleet.deprecated) lines.push(`deprecated: ${d.env} (${d.url}) — ${d.status}\n`);
  return lines.join('\n');
}
