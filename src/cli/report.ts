// `llm-fleet report`: the seed's SLO document regenerated from the fleet file and the store —
// inventory, targets with measured values beside them, availability and recovery, routing, health
// commands for the current URLs, calibration method and last runs, environments, deprecations —
// rendered by src/export/slo-document.ts. Without a store it still renders the fleet file's half.
import { Command, Option } from 'commander';
import type { SloDocumentFormat } from '../export/slo-document.ts';
import { renderSloDocument } from '../export/slo-document.ts';
import type { FleetVerdict } from '../slo/evaluate.ts';
import { defaultStorePath } from '../store/sqlite-store.ts';
import type { CalibrationRun } from '../store/types.ts';
import { replicaBreakdown, verdictFromStore } from './check.ts';
import type { ReplicaVerdict } from '../slo/replicas.ts';
import type { RegisterCommand } from './commands.ts';
import { durationOption } from './health.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, withFleetOptions, writeOutput } from './shared.ts';
import type { StoreOptions } from './store-options.ts';
import { instantOption, openStoreFor, storeExists, withStoreOption } from './store-options.ts';

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('report')))
    .description('Regenerate the SLO document from the fleet file and measured data (Markdown, HTML or JSON)')
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'html', 'json']).default('md'))
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option(
      '--since <duration>',
      'range the measured values cover, ending now',
      durationOption,
      30 * 24 * 3_600_000,
    )
    .option('--at <time>', 'as of this ISO instant instead of now (replay)', instantOption)
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet report -f examples/onex.fleet.yaml > docs/performance/llm-endpoint-slos.md
  llm-fleet report -f examples/onex.fleet.yaml --format html --out report.html
  llm-fleet report -f examples/onex.fleet.yaml --format json --since 7d

'Last Updated' comes from the newest stored measurement (or the fleet file's lastUpdated without data).

Exit codes: 0 written · 2 usage or config error.`,
    )
    .action(
      async (
        options: FleetOptions &
          StoreOptions & { format: SloDocumentFormat; out?: string; since: number; at?: number },
      ) => {
        const fleet = loadFleetFor(options, io);
        const path = defaultStorePath(options.store, io.env);
        let verdict: FleetVerdict | undefined;
        let calibrationRuns: CalibrationRun[] = [];
        let simulated = false;
        let replicas: readonly ReplicaVerdict[] = [];
        if (storeExists(path)) {
          const store = await openStoreFor(fleet, options, io, 'read');
          try {
            const nowMs = options.at ?? Date.now();
            const sinceMs = nowMs - options.since;
            verdict = await verdictFromStore(fleet, store, { sinceMs, nowMs });
            replicas = (await replicaBreakdown(fleet, store, { sinceMs, nowMs }))?.replicas ?? [];
            // The demo marks its records: figures from simulators say nothing about hardware.
            simulated = (await store.records({ fromMs: sinceMs, toMs: nowMs + 1 }, undefined, 200)).some(
              (r) => r.simulated === true,
            );
            // The last few runs per endpoint are what the document shows; raw samples stay in the store.
            calibrationRuns = (await store.calibrationRuns(undefined, 50)).map(({ samples, ...run }) => {
              void samples;
              return run;
            });
          } finally {
            await store.close();
          }
        } else {
          io.err(`llm-fleet: no store at ${path}: the report shows targets without measured values\n`);
        }
        const text = renderSloDocument(
          { fleet, ...(verdict ? { verdict } : {}), calibrationRuns, simulated, replicas },
          options.format,
        );
        writeOutput(io, text, options.out, `the ${options.format} report`);
      },
    );
  program.addCommand(command);
};
