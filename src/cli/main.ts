// Entry point of the `llm-fleet` command: builds the commander program from one module per
// command and maps errors to exit codes (0 ok, 1 findings / SLO breach / unhealthy, 2 usage or config).
import { Command, CommanderError } from 'commander';
import { FleetError } from '../errors.ts';
import { commands } from './commands.ts';
import type { CliIo } from './io.ts';
import { processIo } from './io.ts';

export function buildProgram(io: CliIo): Command {
  const program = new Command('llm-fleet')
    .description('Run a fleet of self-hosted LLM endpoints to stated service levels.')
    .version(io.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok · 1 SLO breach, findings or unhealthy endpoints · 2 usage or configuration error.
Set LLM_FLEET_LOOPBACK_ONLY=1 to refuse every outbound connection to a non-loopback address.`,
  );
  for (const register of commands) register(program, io);
  for (const sub of program.commands) sub.exitOverride().configureOutput(program.configureOutput());
  return program;
}

export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return io.exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof FleetError) {
      const [first, ...rest] = error.message.split('\n');
      io.err(`llm-fleet: ${first} [${error.code}]\n${rest.map((line) => `${line}\n`).join('')}`);
      if (error.hint) io.err(`  hint: ${error.hint}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
