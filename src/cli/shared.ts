// Options and output helpers every command shares: --fleet / --env, tables, JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { EnvironmentName, Fleet } from '../fleet/index.ts';
import { defaultFleetPath, ENVIRONMENTS, loadFleet } from '../fleet/index.ts';
import type { CliIo } from './io.ts';

export interface FleetOptions {
  fleet?: string;
  env?: EnvironmentName;
}

/** Adds --fleet and --env to a command. */
export function withFleetOptions(command: Command): Command {
  return command
    .option('-f, --fleet <path>', 'fleet file (default: $LLM_FLEET_FILE or ./fleet.yaml)')
    .addOption(
      new Option(
        '-e, --env <environment>',
        'environment profile applied to targets (default: $LLM_FLEET_ENV or development)',
      ).choices(ENVIRONMENTS),
    );
}

export function loadFleetFor(options: FleetOptions, io: CliIo): Fleet {
  return loadFleet(defaultFleetPath(options.fleet, io.env), { env: io.env, environment: options.env });
}

export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head,
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const row of rows) t.push(row.map((c) => String(c)));
  return `${t.toString()}\n`;
}

export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A rendered document to stdout, or to `out` (folders created) with a one-line receipt on stderr. */
export function writeOutput(io: CliIo, text: string, out: string | undefined, what: string): void {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  if (!out) {
    io.out(body);
    return;
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, body);
  // Bytes on disk, not UTF-16 code units: the report is full of → and ≤.
  io.err(`wrote ${what} to ${out} (${Buffer.byteLength(body)} bytes)\n`);
}
