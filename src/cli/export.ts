// `llm-fleet export`: the fleet's objectives as the wider ecosystem reads them — Prometheus
// recording and alerting rules, OpenSLO v1 documents, a Grafana dashboard — rendered by src/export/
// over the metrics the gateway and monitor expose. Writes stdout or --out.
import { Argument, Command } from 'commander';
import { renderGrafanaDashboard } from '../export/grafana-dashboard.ts';
import { renderOpenSlo } from '../export/openslo.ts';
import { renderPrometheusRules } from '../export/prometheus-rules.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, withFleetOptions, writeOutput } from './shared.ts';

export const EXPORT_FORMATS = ['prometheus', 'openslo', 'grafana'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('export'))
    .description('Export the objectives as Prometheus rules, OpenSLO v1 documents or a Grafana dashboard')
    .addArgument(new Argument('<format>', 'what to write').choices(EXPORT_FORMATS))
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option(
      '--prometheus-url <url>',
      'OpenSLO: the Prometheus data source URL (default http://prometheus:9090)',
    )
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet export prometheus -f examples/onex.fleet.yaml --out rules/llm-fleet.rules.yml
  promtool check rules rules/llm-fleet.rules.yml
  llm-fleet export openslo -f examples/onex.fleet.yaml > openslo.yaml
  llm-fleet export grafana -f examples/onex.fleet.yaml --out grafana/llm-fleet.json

The rules read llm_slo_events_total, llm_fleet_endpoint_up, llm_fleet_endpoint_down_seconds and
llm_slo_recovery_episodes_total — the counters \`serve\` and \`monitor\` expose and \`check\` judges —
so the alerts and \`llm-fleet check\` agree. Availability events are only counted inside each
objective's window (business hours in its time zone): the rules need no hour arithmetic.
--env applies the environment's targets (production tightening, degraded factors).

Exit codes: 0 written · 2 usage or config error.`,
    )
    .action((format: ExportFormat, options: FleetOptions & { out?: string; prometheusUrl?: string }) => {
      const fleet = loadFleetFor(options, io);
      const text =
        format === 'prometheus'
          ? renderPrometheusRules(fleet)
          : format === 'openslo'
            ? renderOpenSlo(fleet, options.prometheusUrl ? { prometheusUrl: options.prometheusUrl } : {})
            : renderGrafanaDashboard(fleet);
      writeOutput(io, text, options.out, format);
    });
  program.addCommand(command);
};
