// More than one gateway, on this machine: `npm run ha` (or `node examples/ha/run.ts`) starts
//   - redis-server        the replicas' shared state (--state redis://…)
//   - PostgreSQL          the store both replicas write and check/report/the dashboard read
//   - the simulated fleet the example fleet's endpoints (llm-fleet's simulator), on loopback
//   - two gateway replicas `llm-fleet serve --store postgres://… --state redis://…`
//   - a balancer          round-robin in front of the replicas (examples/ha/balancer.ts), port 4000
//   - Prometheus          scraping each replica's /metrics, with `llm-fleet export prometheus` rules
// all on 127.0.0.1, all in one temp dir, all stopped (and the dir removed) by Ctrl-C.
//
// Options: --port N (balancer, default 4000; 0 = any free port), --traffic RPS (send a little
// traffic through the balancer, default 0), --duration SECONDS (stop by itself), --json (print the
// addresses as one JSON line, for scripts and tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderPrometheusRules } from '../../src/export/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import { startPostgres } from '../../test/support/postgres.ts';
import { startPrometheus } from '../../test/support/prometheus.ts';
import { startRedis } from '../../test/support/redis.ts';
import type { ServeProcess } from '../../test/support/serve.ts';
import { startServe } from '../../test/support/serve.ts';
import { startBalancer } from './balancer.ts';

const FLEET_FILE = fileURLToPath(new URL('../onex.fleet.yaml', import.meta.url));
const REPLICAS = 2;

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4000' },
    traffic: { type: 'string', default: '0' },
    duration: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
// Nothing here may reach another machine: every server is on loopback, and the gateways refuse
// any endpoint that is not.
process.env.LLM_FLEET_LOOPBACK_ONLY = '1';
const say = (text: string): void => {
  if (!values.json) process.stdout.write(`${text}\n`);
};

const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-ha-'));
const stops: { name: string; stop: () => Promise<void> }[] = [];
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        process.stderr.write(`ha: stopping ${name}: ${(error as Error).message}\n`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

let exitCode = 0;
try {
  say(`ha: everything in ${dir}`);
  const redis = await startRedis();
  stops.push({ name: 'redis', stop: () => redis.stop() });
  say(`ha: redis-server      ${redis.url}`);

  const postgres = await startPostgres();
  stops.push({ name: 'postgres', stop: () => postgres.stop() });
  const storeUrl = await postgres.createDatabase('fleet');
  say(`ha: PostgreSQL        ${storeUrl}`);

  const sims = await startSimFleet(loadFleet(FLEET_FILE, { env: {}, environment: 'development' }), {
    seed: 1,
  });
  stops.push({ name: 'simulated fleet', stop: () => sims.close() });
  for (const [name, sim] of sims.endpoints) say(`ha: simulated ${name.padEnd(12)} ${sim.url}`);

  const replicas: ServeProcess[] = [];
  for (let i = 0; i < REPLICAS; i++) {
    const replica = await startServe(
      ['-f', FLEET_FILE, '--store', storeUrl, '--state', redis.url],
      sims.env,
      {
        label: `replica ${i}`,
      },
    );
    replicas.push(replica);
    stops.push({ name: `replica ${i}`, stop: () => replica.stop() });
    replica.child.once('exit', (code, signal) => {
      if (!stopping)
        say(`ha: replica ${i} exited (${signal ?? code}); the balancer sends its traffic to the other`);
    });
    say(`ha: gateway replica ${i}   ${replica.url}  (pid ${replica.pid}; dashboard ${replica.url}/)`);
  }

  const balancer = await startBalancer(
    replicas.map((r) => r.url),
    { port: Number(values.port) },
  );
  stops.push({ name: 'balancer', stop: () => balancer.close() });
  say(`ha: balancer          ${balancer.url}  (round-robin over the replicas)`);

  const prometheus = await startPrometheus({
    targets: replicas.map((r) => new URL(r.url).host),
    rules: renderPrometheusRules(sims.fleet),
    scrapeIntervalS: 2,
    evaluationIntervalS: 2,
    dir: mkdtempSync(join(dir, 'prometheus-')),
  });
  stops.push({ name: 'prometheus', stop: () => prometheus.stop() });
  say(`ha: Prometheus        ${prometheus.url}  (alerts: ${prometheus.url}/alerts)`);

  const rps = Number(values.traffic);
  let sent = 0;
  const traffic =
    rps > 0
      ? setInterval(() => {
          sent += 1;
          void fetch(`${balancer.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'auto',
              stream: true,
              max_tokens: 32,
              messages: [{ role: 'user', content: `ha traffic ${sent}` }],
            }),
          })
            .then((res) => res.arrayBuffer())
            .catch(() => undefined);
        }, 1000 / rps)
      : undefined;
  if (traffic) stops.push({ name: 'traffic', stop: async () => clearInterval(traffic) });

  if (values.json)
    process.stdout.write(
      `${JSON.stringify({
        dir,
        balancer: balancer.url,
        replicas: replicas.map((r) => ({ url: r.url, pid: r.pid })),
        store: storeUrl,
        state: redis.url,
        prometheus: prometheus.url,
        pids: {
          redis: redis.pid(),
          postgres: postgres.pid(),
          prometheus: prometheus.pid,
          replicas: replicas.map((r) => r.pid),
        },
      })}\n`,
    );
  say(`
Try:
  curl -N ${balancer.url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  node bin/llm-fleet.js check  -f examples/onex.fleet.yaml --store '${storeUrl}'
  node bin/llm-fleet.js report -f examples/onex.fleet.yaml --store '${storeUrl}'
  curl -s '${prometheus.url}/api/v1/query?query=slo:sli_error:ratio_rate5m'
  kill -9 ${replicas[0]?.pid}    # a replica dies: its streams are reset, the other replica serves on
Ctrl-C stops everything.`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (values.duration !== undefined) setTimeout(resolve, Number(values.duration) * 1000).unref();
  });
  say('ha: stopping');
} catch (error) {
  process.stderr.write(`ha: ${(error as Error).message}\n`);
  exitCode = 1;
} finally {
  await stopAll();
}
process.exit(exitCode);
