// `llm-fleet health`: the seed's curl section as a command. Checks every routable endpoint at once,
// judging each answer by its server's health semantics; planned endpoints are listed, not failed.
import { Command, InvalidArgumentError } from 'commander';
import { parseDuration } from '../fleet/index.ts';
import { checkHealth, createProbeDispatcher, healthUrl } from '../probes/health.ts';
import type { ProbeResult } from '../probes/types.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';

export function durationOption(value: string): number {
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new InvalidArgumentError(`expected ${parsed.expected}`);
  return parsed.value;
}

export interface HealthRow {
  readonly endpoint: string;
  readonly env: string;
  readonly url: string | null;
  readonly status: 'healthy' | 'unhealthy' | 'planned';
  readonly cause?: string;
  readonly httpStatus?: number;
  readonly latencyMs?: number;
  readonly detail: string;
}

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('health'))
    .description(
      "Check every routable endpoint's health, the way its server means it (the seed's curl section)",
    )
    .option('-t, --timeout <duration>', 'per-endpoint timeout, connect included', durationOption, 2000)
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet health -f examples/onex.fleet.yaml
  LLM_CODER_URL=http://127.0.0.1:8000 llm-fleet health -f examples/onex.fleet.yaml --timeout 500ms --json

Each server's own meaning of healthy: vLLM 200 (empty body) / 503 engine dead; llama.cpp 200
{"status":"ok"} / 503 "Loading model"; mlx_lm 200 {"status": "ok"}; TEI 200 / 503 unhealthy.
A refused connection is reported as connect_refused (vLLM and TEI refuse while loading).

Exit codes: 0 every routable endpoint healthy · 1 at least one unhealthy · 2 usage or config error.`,
    )
    .action(async (options: FleetOptions & { timeout: number; json?: boolean }) => {
      const fleet = loadFleetFor(options, io);
      const dispatcher = createProbeDispatcher(options.timeout, io.env);
      let results: Map<string, ProbeResult>;
      try {
        const routable = fleet.endpoints.filter((e) => e.status === 'running' && e.url !== undefined);
        const probed = await Promise.all(
          routable.map((e) => checkHealth(e, { timeoutMs: options.timeout, dispatcher })),
        );
        results = new Map(probed.map((r) => [r.endpoint, r]));
      } finally {
        await dispatcher.close().catch(() => undefined);
      }
      const rows: HealthRow[] = fleet.endpoints.map((e) => {
        const r = results.get(e.name);
        if (!r)
          return {
            endpoint: e.name,
            env: e.env,
            url: e.url ?? null,
            status: 'planned',
            detail: e.port === undefined ? 'planned (port TBD), not routable' : 'planned, not routable',
          };
        return {
          endpoint: e.name,
          env: e.env,
          url: e.url ? healthUrl(e) : null,
          status: r.ok ? 'healthy' : 'unhealthy',
          ...(r.cause ? { cause: r.cause } : {}),
          ...(r.status !== undefined ? { httpStatus: r.status } : {}),
          latencyMs: Math.round(r.latencyMs * 10) / 10,
          detail: r.detail,
        };
      });
      const unhealthy = rows.filter((r) => r.status === 'unhealthy').length;
      if (unhealthy > 0) io.setExitCode(1);
      if (options.json) {
        printJson(io, { healthy: unhealthy === 0, endpoints: rows });
        return;
      }
      io.out(
        table(
          ['endpoint', 'env var', 'URL', 'status', 'latency', 'detail'],
          rows.map((r) => [
            r.endpoint,
            r.env,
            r.url ?? '—',
            r.status === 'unhealthy' ? `unhealthy (${r.cause ?? '?'})` : r.status,
            r.latencyMs !== undefined ? `${r.latencyMs.toFixed(1)} ms` : '—',
            r.detail,
          ]),
        ),
      );
      const routableCount = rows.filter((r) => r.status !== 'planned').length;
      io.out(
        unhealthy === 0
          ? `all ${routableCount} routable endpoints healthy\n`
          : `${unhealthy} of ${routableCount} routable endpoints unhealthy\n`,
      );
    });
  program.addCommand(command);
};
