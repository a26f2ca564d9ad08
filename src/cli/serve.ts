// `llm-fleet serve`: the gateway in front of a fleet file's endpoints, on loopback unless --host
// says otherwise. With --workers N, N processes share the port (node:cluster); each keeps its own
// breaker and health view.
import cluster from 'node:cluster';
import { Command, InvalidArgumentError } from 'commander';
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import { buildGateway, type Gateway, type GatewayDeps } from '../gateway/index.ts';
import { startMonitor } from '../probes/monitor.ts';
import { createHealthState } from '../probes/state.ts';
import { isLoopbackHost } from '../upstream/guard.ts';
import type { RegisterCommand } from './commands.ts';
import type { CliIo } from './io.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, withFleetOptions } from './shared.ts';

export interface ServeOptions extends FleetOptions {
  port: number;
  host: string;
  workers: number;
  apiKey?: string[];
  monitor: boolean;
  json?: boolean;
}

export function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Waits for SIGINT/SIGTERM, then runs `stop`. */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      void stop().finally(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function startGateway(
  fleet: Fleet,
  io: CliIo,
  options: { port: number; host: string; apiKeys?: readonly string[]; deps?: GatewayDeps },
): Promise<{ gateway: Gateway; url: string }> {
  if (!isLoopbackHost(options.host)) {
    io.err(
      `llm-fleet: listening on ${options.host}: the gateway is reachable from other machines${
        fleet.gateway.apiKeys.length + (options.apiKeys?.length ?? 0) === 0 ? ' and no API key is set' : ''
      }\n`,
    );
  }
  const envKeys = (io.env.LLM_FLEET_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const gateway = buildGateway(fleet, {
    env: io.env,
    processMetrics: true,
    ...options.deps,
    apiKeys: [...(options.apiKeys ?? []), ...envKeys, ...(options.deps?.apiKeys ?? [])],
  });
  try {
    const url = await gateway.listen(options.port, options.host);
    return { gateway, url };
  } catch (error) {
    await gateway.close();
    const code = (error as { code?: string }).code;
    throw new FleetError(
      'listen_failed',
      `cannot listen on ${options.host}:${options.port}: ${code ?? String(error)}`,
      { hint: code === 'EADDRINUSE' ? 'another process uses the port: pick one with --port' : undefined },
    );
  }
}

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('serve'))
    .description('Run the OpenAI-compatible gateway in front of the fleet (routing, failover, measurement)')
    .option('-p, --port <port>', 'port to listen on', portNumber, 4000)
    .option(
      '--host <address>',
      'address to listen on (loopback by default; anything else is reachable from other machines)',
      '127.0.0.1',
    )
    .option('-w, --workers <n>', 'worker processes sharing the port', positive, 1)
    .option('--api-key <key>', 'accept this Bearer key (repeatable; also LLM_FLEET_API_KEYS=a,b)', collect)
    .option('--no-monitor', 'do not probe the endpoints (route on traffic and circuit breakers only)')
    .option('--json', 'print the listening address as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet serve -f examples/onex.fleet.yaml
  LLM_CODER_URL=http://127.0.0.1:8000 llm-fleet serve -f fleet.yaml --port 4000 --workers 2
  llm-fleet serve -f fleet.yaml --api-key sk-local-123456 --host 0.0.0.0

Then:  curl http://127.0.0.1:4000/v1/chat/completions -H 'content-type: application/json' \\
         -d '{"model":"auto","messages":[{"role":"user","content":"hi"}]}'

Exit codes: 0 stopped cleanly · 2 usage, config or listen error.`,
    )
    .action(async (options: ServeOptions) => {
      const fleet = loadFleetFor(options, io);
      if (options.workers > 1 && cluster.isPrimary) {
        io.out(`llm-fleet: starting ${options.workers} gateway workers on ${options.host}:${options.port}\n`);
        for (let i = 0; i < options.workers; i++) cluster.fork();
        await untilSignal(async () => {
          for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
        });
        return;
      }
      // With the monitor, the gateway routes on probe-backed health (a down endpoint is tried last
      // and comes back when its probes pass); without it, circuit breakers alone steer around.
      const health = options.monitor ? createHealthState(fleet) : undefined;
      const { gateway, url } = await startGateway(fleet, io, {
        port: options.port,
        host: options.host,
        apiKeys: options.apiKey,
        deps: { health },
      });
      const monitor = health
        ? startMonitor(fleet, { state: health, registry: gateway.metrics, env: io.env })
        : undefined;
      if (options.json) printJson(io, { url, fleet: fleet.name, pid: process.pid });
      else if (cluster.isPrimary)
        io.out(`llm-fleet gateway for fleet '${fleet.name}' on ${url} (Ctrl-C to stop)\n`);
      await untilSignal(async () => {
        await monitor?.stop();
        await gateway.close();
      });
    });
  program.addCommand(command);
};
