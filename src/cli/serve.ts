// `llm-fleet serve`: the gateway in front of a fleet file's endpoints, on loopback unless --host
// says otherwise. With --workers N, N processes share the port (node:cluster) and one state: the
// primary's over IPC, or Redis with --state. Several `serve` processes (on several machines)
// pointed at one Redis (--state redis://…) share breakers, slots, rate limits and probing.
import { MemoryBackend, DEFAULT_BREAKER, serveStateOverIpc } from '../state/index.ts';
import cluster from 'node:cluster';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { RegisterCommand } from './commands.ts';
import { eventLine, LOG_FORMATS, requestLine, type LogFormat } from './request-log.ts';
import { startStack, untilSignal } from './stack.ts';
import type { StoreOptions } from './store-options.ts';
import { withStoreOption } from './store-options.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, withFleetOptions } from './shared.ts';

export interface ServeOptions extends FleetOptions, StoreOptions {
  port: number;
  host: string;
  workers: number;
  apiKey?: string[];
  monitor: boolean;
  json?: boolean;
  logFormat: LogFormat;
  state?: string;
  stateTimeout?: number;
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

/**
 * The operator's log: request lines and event lines on stderr, unless the format is `off`. Lines of
 * one turn of the event loop go out as one write after it (stderr to a file or pipe is a
 * synchronous write: one per request cost the hot path a syscall each); at exit, whatever is
 * pending is written.
 */
function logging(format: LogFormat, io: { err(text: string): void }) {
  if (format === 'off') return {};
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    io.err(text);
  };
  const write = (line: string): void => {
    if (pending === '') setImmediate(flush);
    pending += `${line}\n`;
  };
  process.once('exit', flush);
  return {
    onRecord: (record: Parameters<typeof requestLine>[0]) => write(requestLine(record, format)),
    events: (event: Parameters<typeof eventLine>[0]) => write(eventLine(event, Date.now(), format)),
  };
}

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('serve')))
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
    .option(
      '--state <url>',
      "shared state: 'memory' (default, this process) or redis://host:port (shared by every replica using it)",
    )
    .option(
      '--state-timeout <ms>',
      'longest a request waits on the shared state before local state answers',
      positive,
      50,
    )
    .option('--json', 'print the listening address as JSON')
    .addOption(
      new Option(
        '--log-format <format>',
        'one line per request, and per retry, failover, rescue and breaker transition, on stderr',
      )
        .choices(LOG_FORMATS)
        .default('text'),
    )
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet serve -f examples/onex.fleet.yaml
  LLM_CODER_URL=http://127.0.0.1:8000 llm-fleet serve -f fleet.yaml --port 4000 --workers 2
  llm-fleet serve -f fleet.yaml --api-key sk-local-123456 --host 0.0.0.0
  llm-fleet serve -f fleet.yaml --log-format json 2>>gateway.log
  llm-fleet serve -f fleet.yaml --port 4001 --state redis://127.0.0.1:6379   # one of several replicas

Then:  curl http://127.0.0.1:4000/v1/chat/completions -H 'content-type: application/json' \\
         -d '{"model":"auto","messages":[{"role":"user","content":"hi"}]}'

Exit codes: 0 stopped cleanly · 2 usage, config or listen error.`,
    )
    .action(async (options: ServeOptions) => {
      const fleet = loadFleetFor(options, io);
      if (options.workers > 1 && cluster.isPrimary) {
        io.out(
          `llm-fleet: starting ${options.workers} gateway workers on ${options.host}:${options.port} (state: ${options.state ?? 'shared by the primary over IPC'})\n`,
        );
        // Without Redis the workers share this process's state: one breaker per endpoint, not N.
        const stopIpc = options.state
          ? undefined
          : serveStateOverIpc(
              cluster,
              new MemoryBackend({
                breaker: DEFAULT_BREAKER,
                probeLeaseMs: Math.max(10_000, ...fleet.endpoints.map((e) => e.timeouts.totalTimeoutMs)),
              }),
            );
        for (let i = 0; i < options.workers; i++) cluster.fork();
        await untilSignal(async () => {
          for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
          stopIpc?.();
        });
        return;
      }
      const stack = await startStack(fleet, io, {
        port: options.port,
        host: options.host,
        apiKeys: options.apiKey,
        store: options.store,
        monitor: options.monitor,
        env: io.env,
        ...logging(options.logFormat, io),
        ...(options.state !== undefined ? { state: options.state } : {}),
        stateTimeoutMs: options.stateTimeout,
        ipcState: cluster.isWorker,
      });
      if (options.json)
        printJson(io, {
          url: stack.url,
          fleet: fleet.name,
          pid: process.pid,
          store: stack.store.location,
          state: stack.state.status(),
        });
      else if (cluster.isPrimary)
        io.out(
          `llm-fleet gateway for fleet '${fleet.name}' on ${stack.url} (dashboard ${stack.url}/, store ${stack.store.location}; Ctrl-C to stop)\n`,
        );
      await untilSignal(async () => {
        await stack.stop();
        // A worker's IPC channel would keep it (and so the primary) alive after a clean stop.
        if (cluster.isWorker) cluster.worker?.disconnect();
      });
    });
  program.addCommand(command);
};
