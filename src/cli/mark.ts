// `llm-fleet mark`: record that an endpoint was tuned ('after optimisation work': quantization, KV
// cache, chunked prefill …). `check` then raises a recalibration trigger for it until a calibration
// run newer than the mark exists.
import { Command } from 'commander';
import { FleetError } from '../errors.ts';
import { endpointByName } from '../fleet/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';
import type { StoreOptions } from './store-options.ts';
import { instantOption, openStoreFor, withStoreOption } from './store-options.ts';

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('mark')))
    .description('Mark an endpoint as changed by optimisation work (a recalibration trigger), or list marks')
    .argument('[endpoint]', 'endpoint name (omit with --list)')
    .option('-n, --note <text>', 'what was changed, e.g. "enabled chunked prefill"')
    .option('--at <time>', 'when the work was done (ISO date-time; default now)', instantOption)
    .option('-l, --list', 'list the marks instead of adding one')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet mark coder --note "switched to AWQ 4-bit, enabled chunked prefill"
  llm-fleet mark --list

A mark raises the 'optimisation-work' recalibration trigger in \`llm-fleet check\` until the
endpoint is calibrated again after it.

Exit codes: 0 ok · 2 usage, config, unknown endpoint or missing store.`,
    )
    .action(
      async (
        endpoint: string | undefined,
        options: FleetOptions & StoreOptions & { note?: string; at?: number; list?: boolean; json?: boolean },
      ) => {
        const fleet = loadFleetFor(options, io);
        if (options.list) {
          const store = await openStoreFor(fleet, options, io, 'read');
          try {
            const marks = await store.marks(endpoint);
            if (options.json) printJson(io, marks);
            else if (marks.length === 0) io.out('no marks\n');
            else
              io.out(
                table(
                  ['endpoint', 'at', 'note'],
                  marks.map((m) => [m.endpoint, new Date(m.atMs).toISOString(), m.note]),
                ),
              );
          } finally {
            await store.close();
          }
          return;
        }
        if (!endpoint)
          throw new FleetError('usage', 'name the endpoint to mark', {
            hint: 'llm-fleet mark coder --note "…"',
          });
        if (!endpointByName(fleet, endpoint))
          throw new FleetError('unknown_endpoint', `no endpoint named ${endpoint} in ${fleet.source}`, {
            hint: `one of: ${fleet.endpoints.map((e) => e.name).join(', ')}`,
          });
        if (!options.note)
          throw new FleetError('usage', 'say what was changed with --note', {
            hint: 'llm-fleet mark coder --note "enabled chunked prefill"',
          });
        const mark = { endpoint, atMs: options.at ?? Date.now(), note: options.note };
        const store = await openStoreFor(fleet, options, io, 'write');
        try {
          await store.addMark(mark);
        } finally {
          await store.close();
        }
        if (options.json) printJson(io, mark);
        else io.out(`marked ${endpoint} at ${new Date(mark.atMs).toISOString()}: ${mark.note}\n`);
      },
    );
  program.addCommand(command);
};
