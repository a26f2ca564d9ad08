// `llm-fleet monitor`: the monitor on its own (inside `serve` the gateway runs it). Probes every
// routable endpoint on the fleet file's interval, keeps the store up to date, prints state changes
// and incidents as they happen, and optionally serves /metrics on loopback.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { formatDuration } from '../fleet/index.ts';
import { startMonitor } from '../probes/monitor.ts';
import type { ProbeResult } from '../probes/types.ts';
import type { RegisterCommand } from './commands.ts';
import { durationOption } from './health.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, table, withFleetOptions } from './shared.ts';
import type { StoreOptions } from './store-options.ts';
import { openStoreFor, withStoreOption } from './store-options.ts';

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

interface MonitorCliOptions extends FleetOptions, StoreOptions {
  interval?: number;
  requestEvery: number;
  once?: boolean;
  duration?: number;
  metricsPort?: number;
  json?: boolean;
}

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('monitor')))
    .description('Probe every routable endpoint on an interval, track up/down and incidents, keep the store')
    .option(
      '-i, --interval <duration>',
      'probe interval (default: the fleet file gateway.probeInterval, 15s)',
      durationOption,
    )
    .option('--request-every <n>', 'a real chat/embeddings request every n rounds (0: never)', count, 4)
    .option('--once', 'one round of probes (health and a real request), print it, exit')
    .option('--duration <duration>', 'stop after this long (default: until Ctrl-C)', durationOption)
    .option('--metrics-port <port>', 'serve /metrics on 127.0.0.1:<port> (0 picks one)', count)
    .option('--json', 'print events (or the --once round) as JSON lines')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet monitor -f examples/onex.fleet.yaml --store .llm-fleet/fleet.db
  llm-fleet monitor -f examples/onex.fleet.yaml --once
  llm-fleet monitor -f examples/onex.fleet.yaml --interval 5s --metrics-port 9464

Two consecutive failures mark an endpoint down, two successes mark it up (one lost probe never
flaps it). A failed real request keeps an endpoint down even while /health answers 200.
Probe results are written in batches every second: a crash loses at most the last second.
Incidents are written at once, so a restart resumes an open incident.

Exit codes: 0 ok (--once: every routable endpoint up) · 1 --once found one down · 2 usage or config.`,
    )
    .action(async (options: MonitorCliOptions) => {
      const fleet = loadFleetFor(options, io);
      const store = await openStoreFor(fleet, options, io, 'write');
      // --once prints its round as a table; the state machine's first-round changes would be noise.
      const say = (event: Record<string, unknown>, text: string): void =>
        void (options.once
          ? undefined
          : io.out(options.json ? `${JSON.stringify(event)}\n` : `${new Date().toISOString()} ${text}\n`));
      const monitor = await startMonitor(fleet, {
        store,
        env: io.env,
        autoStart: !options.once,
        requestProbeEvery: options.once ? 1 : options.requestEvery,
        ...(options.interval !== undefined ? { intervalMs: options.interval } : {}),
      });
      const offState = monitor.state.subscribe((c) =>
        say(
          { event: 'state', ...c },
          `${serverName(c)}: ${c.from} → ${c.to}${c.cause ? ` (${c.cause})` : ''}`,
        ),
      );
      const offIncident = monitor.state.onIncident((i) => {
        // A replica's incident is not the endpoint's: its recovery objective does not judge it.
        const recoveryMs =
          i.replica === undefined
            ? fleet.endpoints.find((e) => e.name === i.endpoint)?.slo.recoveryMs
            : undefined;
        if (i.endedAtMs === undefined)
          say({ event: 'incident-open', ...i }, `incident opened on ${serverName(i)}: ${i.cause}`);
        else {
          const took = i.endedAtMs - i.startedAtMs;
          const judged =
            recoveryMs === undefined
              ? ''
              : took > recoveryMs
                ? `, over the ${formatDuration(recoveryMs)} recovery SLO`
                : `, within ${formatDuration(recoveryMs)}`;
          say(
            { event: 'incident-closed', ...i, durationMs: took },
            `incident on ${serverName(i)} closed after ${formatDuration(Math.round(took / 1000) * 1000)}${judged}`,
          );
        }
      });
      let server: ReturnType<typeof createServer> | undefined;
      if (options.metricsPort !== undefined) {
        server = createServer((req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          monitor.registry
            .metrics()
            .then((body) => res.writeHead(200, { 'content-type': monitor.registry.contentType }).end(body))
            .catch(() => res.writeHead(500).end());
        });
        await new Promise<void>((resolve) => server?.listen(options.metricsPort, '127.0.0.1', resolve));
        const port = (server.address() as AddressInfo).port;
        say(
          { event: 'metrics', url: `http://127.0.0.1:${port}/metrics` },
          `metrics on http://127.0.0.1:${port}/metrics`,
        );
      }
      try {
        if (options.once) {
          const results = await monitor.tick();
          printRound(results, options.json === true);
          const down = fleet.endpoints.filter(
            (e) => e.status === 'running' && results.some((r) => r.endpoint === e.name && !r.ok),
          );
          if (down.length > 0) io.setExitCode(1);
          return;
        }
        say(
          {
            event: 'start',
            endpoints: fleet.endpoints.filter((e) => e.status === 'running').map((e) => e.name),
            intervalMs: monitor.intervalMs,
            store: store.location,
          },
          `monitoring ${fleet.endpoints.filter((e) => e.status === 'running').length} endpoints every ${formatDuration(monitor.intervalMs)}, store ${store.location}`,
        );
        let stop = (): void => undefined;
        const stopped = new Promise<void>((resolve) => (stop = resolve));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const timer = options.duration !== undefined ? setTimeout(stop, options.duration) : undefined;
        await stopped;
        if (timer) clearTimeout(timer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      } finally {
        offState();
        offIncident();
        await monitor.stop();
        await store.close();
        server?.close();
      }

      function printRound(results: ProbeResult[], json: boolean): void {
        if (json) {
          for (const r of results) io.out(`${JSON.stringify(r)}\n`);
          return;
        }
        io.out(
          table(
            ['endpoint', 'probe', 'result', 'latency', 'detail'],
            results.map((r) => [
              r.endpoint,
              r.kind,
              r.ok ? 'ok' : `fail (${r.cause ?? '?'})`,
              `${r.latencyMs.toFixed(1)} ms`,
              r.detail,
            ]),
          ),
        );
      }
    });
  program.addCommand(command);
};

/** `coder` for an endpoint, `coder replica 1` for one server of its pool. */
function serverName(about: { readonly endpoint: string; readonly replica?: string }): string {
  return about.replica === undefined ? about.endpoint : `${about.endpoint} replica ${about.replica}`;
}
