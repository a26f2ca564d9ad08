// `llm-fleet lint`: the seed's "all code referencing OLLAMA_BASE_URL or port 11434 must be updated",
// as a check that runs in CI.
import { Command, Option } from 'commander';
import { formatSarif, formatText, scanPaths } from '../lint/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, withFleetOptions } from './shared.ts';

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('lint'))
    .description('Find code and config that still use deprecated endpoints or hard-code endpoint addresses')
    .argument('[paths...]', 'files or folders to scan (default: .)')
    .addOption(
      new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'),
    )
    .addHelpText(
      'after',
      `
Rules (from the fleet file):
  deprecated-env      the variable of a deprecated entry (OLLAMA_BASE_URL)
  deprecated-address  its host:port (192.168.86.200:11434)
  deprecated-port     its port (:11434, port 11434)
  hardcoded-endpoint  a live endpoint's host:port written out instead of read from its env var
Folders honour .gitignore; binary files are skipped; a line containing llm-fleet-lint-ignore is not reported.

Examples:
  llm-fleet lint -f examples/onex.fleet.yaml src/ scripts/
  llm-fleet lint -f fleet.yaml --format sarif > llm-fleet.sarif

Exit codes: 0 clean · 1 findings · 2 usage or config error.`,
    )
    .action((paths: string[], options: FleetOptions & { format: 'text' | 'json' | 'sarif' }) => {
      const fleet = loadFleetFor(options, io);
      const result = scanPaths(fleet, paths);
      if (result.findings.length > 0) io.setExitCode(1);
      if (options.format === 'json') printJson(io, result);
      else if (options.format === 'sarif') printJson(io, formatSarif(result.findings, io.version));
      else io.out(formatText(result.findings, result.filesScanned));
    });
  program.addCommand(command);
};
