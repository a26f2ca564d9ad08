// `llm-fleet demo` (and `npm start`): the example fleet as simulated servers on loopback, the
// gateway in front of them with the monitor and the dashboard, light background traffic so the
// dashboard has something to show, and a staged outage now and then so failover and recovery can
// be watched. Everything binds to 127.0.0.1 and nothing is sent anywhere else.
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { loadFleet, replicasOf, type Fleet } from '../fleet/index.ts';
import type { RequestRecord } from '../measure/record.ts';
import type { FleetHealthState } from '../probes/types.ts';
import { selectEndpoint } from '../routing/index.ts';
import { startSimFleet, type SimFleet } from '../sim/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { CliIo } from './io.ts';
import { portNumber } from './serve.ts';
import type { Stack } from './stack.ts';
import { startStack, untilSignal } from './stack.ts';

const EXAMPLE_FLEET = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
/**
 * The example fleet's heavy coder runs as a replica pool of two simulated servers in the demo (each
 * with its own engine and prefix cache), so pools show in /fleet/load, /fleet/health and /metrics.
 * A fleet file given with --fleet is simulated as written.
 */
export const DEMO_POOLS: Readonly<Record<string, number>> = { coder: 2 };
/** The demo keeps its own store, so `llm-fleet check/report --store .llm-fleet/demo.db` read what it saw. */
const DEMO_STORE = '.llm-fleet/demo.db';

interface DemoOptions {
  port: number;
  fleet?: string;
  traffic: boolean;
  outage: boolean;
  outageEverySeconds: number;
  outageForSeconds: number;
  outageEndpoint: string;
  seed: number;
  store?: string;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds > 0');
  return n;
}

/**
 * Demo traffic, shaped as real clients send it so every objective is measured as it is defined:
 * answers long enough to show a sustained and a best-one-second rate (the simulator's answers run
 * 24–256 tokens at their natural length; the cap only stops a runaway), a reasoning request with
 * room to think, a short classification.
 */
const PROMPTS: { model: string; task?: string; content: string; stream: boolean; maxTokens: number }[] = [
  {
    model: 'auto',
    content: 'Write a function that merges two sorted arrays.',
    stream: true,
    maxTokens: 1024,
  },
  { model: 'code', content: 'Refactor this handler to use async/await.', stream: true, maxTokens: 1024 },
  // A tool pinned to the big coder by name (the gateway routes an endpoint's name there): coder's
  // own steady traffic, so its objectives are not judged only on what it took over in an outage.
  {
    model: 'coder',
    content: 'Write a migration that splits the users table.',
    stream: true,
    maxTokens: 1024,
  },
  {
    model: 'classification',
    content: 'Is this ticket a bug or a feature request?',
    stream: false,
    maxTokens: 512,
  },
  {
    model: 'auto',
    task: 'reasoning',
    content: 'Review this diff for race conditions.',
    stream: true,
    maxTokens: 2048,
  },
  { model: 'lightweight', content: 'Summarise: the build is green.', stream: false, maxTokens: 512 },
  { model: 'routing', content: 'Which team owns the billing service?', stream: true, maxTokens: 512 },
];

/** Texts per embeddings request: the batch the embeddings objectives are stated for (seed: 32). */
const EMBEDDING_BATCH = 32;
/**
 * Batches an ingestion job sends at once. The embeddings/s objective is throughput under
 * concurrency (inputs per busy second): TEI merges queued requests into one forward pass, so a
 * healthy endpoint reaches its rate only when batches arrive together, as an ingestion job sends them.
 */
const INGESTION_CONCURRENCY = 4;

async function embed(url: string, texts: string[]): Promise<void> {
  await fetch(`${url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // base64: what the OpenAI SDKs ask for by default.
    body: JSON.stringify({ model: 'embedding', encoding_format: 'base64', input: texts }),
  }).then((r) => r.arrayBuffer());
}

/** One background request through the gateway (loopback), like a client would make. */
async function backgroundRequest(url: string, i: number): Promise<void> {
  if (i % 5 === 4) {
    // Every fourth embeddings tick is a single search query, which no batch objective counts; the
    // others are an ingestion job: INGESTION_CONCURRENCY batches of exactly the objective's 32 texts.
    if (i % 4 === 3) return embed(url, [`query ${i}`]);
    await Promise.all(
      Array.from({ length: INGESTION_CONCURRENCY }, (_, b) =>
        embed(
          url,
          Array.from({ length: EMBEDDING_BATCH }, (_, k) => `doc ${i}.${b}.${k}`),
        ),
      ),
    );
    return;
  }
  const p = PROMPTS[i % PROMPTS.length] as (typeof PROMPTS)[number];
  await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(p.task ? { 'x-llm-fleet-task': p.task } : {}) },
    body: JSON.stringify({
      model: p.model,
      messages: [{ role: 'user', content: `${p.content} (#${i})` }],
      max_tokens: p.maxTokens,
      stream: p.stream,
    }),
  }).then((r) => r.arrayBuffer());
}

function howToCall(url: string, fleet: Fleet): string {
  const models = fleet.endpoints
    .filter((e) => e.status === 'running')
    .map((e) => `${e.name} (${e.servedModel})`);
  const pools = fleet.endpoints
    .filter((e) => replicasOf(e).length > 1)
    .map((e) => `${e.name}: ${replicasOf(e).length} simulated servers, each one's load in ${url}/fleet/load`);
  return `
llm-fleet demo: the '${fleet.name}' fleet, simulated on loopback, behind one OpenAI-compatible URL.

  Gateway     ${url}/v1          (routes: auto, code, classification, embedding, reasoning, lightweight)
  Dashboard   ${url}/
  Metrics     ${url}/metrics
  Health      ${url}/fleet/health
  Endpoints   ${models.join(', ')}${pools.map((p) => `\n  Pool        ${p}`).join('')}

Try it:

  curl -s ${url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"auto","messages":[{"role":"user","content":"Write a haiku about queues"}]}'

  curl -sN ${url}/v1/chat/completions -H 'content-type: application/json' -H 'x-llm-fleet-task: reasoning' \\
    -d '{"model":"auto","stream":true,"messages":[{"role":"user","content":"Why is the sky blue?"}]}'

  // npm install openai
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: '${url}/v1', apiKey: 'unused' });
  const stream = await client.chat.completions.create({
    model: 'code', stream: true, messages: [{ role: 'user', content: 'Write fizzbuzz in TypeScript' }],
  });
  for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');

Response headers say where each request went and why (x-llm-fleet-endpoint, x-llm-fleet-reason,
x-llm-fleet-attempts, server-timing). Ctrl-C stops everything.
`;
}

/**
 * The demo's log: every request that did not simply go to its route's first choice. A staged
 * outage shows in three ways, in this order: the streams in flight when the listener closed are
 * cut (`stream_cut`) and continued on a fallback; new requests meet a refused connection
 * (`connect_refused`) and fail over; once the endpoint is marked down (two failures), requests go
 * straight to the fallback and the line says why.
 */
export function demoLogger(
  io: CliIo,
  fleet: Fleet,
  health: () => FleetHealthState | undefined,
): (r: RequestRecord) => void {
  let explainedCut = false;
  return (r) => {
    const at = new Date(r.startedAtMs).toISOString().slice(11, 19);
    const failed = r.attempts.filter((a) => a.error);
    if (failed.length > 0 || r.outcome !== 'ok') {
      const path = r.attempts.map(
        (a) => `${a.endpoint}${a.error ? `:${a.error}` : ''}${a.continuation ? '(continued)' : ''}`,
      );
      io.out(`  ${at}  ${r.route} → ${r.outcome} via ${path.join(' → ')}\n`);
      if (!explainedCut && failed.some((a) => a.error === 'stream_cut')) {
        explainedCut = true;
        io.out(
          '            (stream_cut: a stream was in flight when the listener closed; the gateway continued the\n' +
            "             answer on the fallback — '(continued)' — so the client still got one whole answer)\n",
        );
      }
      return;
    }
    const state = health();
    if (!state) return;
    const primary = routeHead(fleet, r);
    if (primary === undefined || primary === r.endpoint || state.state(primary) !== 'down') return;
    const incident = [...state.incidents()]
      .reverse()
      .find((i) => i.endpoint === primary && i.replica === undefined);
    const cause = incident
      ? `, ${incident.cause} since ${new Date(incident.startedAtMs).toISOString().slice(11, 19)}`
      : '';
    io.out(
      `  ${at}  ${r.route} → ok via ${r.endpoint} (${primary} is marked down${cause}: sent to its fallback)\n`,
    );
  };
}

/** The endpoint the record's route would go to with every endpoint up. */
function routeHead(fleet: Fleet, r: RequestRecord): string | undefined {
  const decision = selectEndpoint(fleet, {
    task: r.task ?? r.route,
    promptTokens: r.promptTokens ?? 0,
  });
  return decision.candidates[0]?.endpoint.name;
}

export const register: RegisterCommand = (program, io) => {
  const command = new Command('demo')
    .description(
      'Start the example fleet as simulated servers + the gateway, monitor and dashboard (loopback only)',
    )
    .option('-p, --port <port>', 'gateway port', portNumber, 4000)
    .option('-f, --fleet <path>', 'fleet file to simulate (default: the ONEX example)')
    .option('--no-traffic', 'do not generate background traffic')
    .option('--no-outage', 'do not stage simulated outages')
    .option('--outage-every <seconds>', 'seconds between staged outages', seconds, 240)
    .option('--outage-for <seconds>', 'how long each staged outage lasts', seconds, 60)
    .option('--outage-endpoint <name>', 'endpoint taken down by the staged outage', 'coder-fast')
    .option('--seed <n>', 'simulator seed (same answers on every endpoint)', (v) => Number(v), 0)
    .option(
      '-s, --store <path|url>',
      `store file or postgres:// URL (default: ${DEMO_STORE}; check and report read it afterwards)`,
    )
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet demo                      # or: npm start
  llm-fleet demo --port 4100 --outage-every 120 --outage-for 30
  llm-fleet demo --no-traffic --no-outage
  llm-fleet report -f examples/onex.fleet.yaml --store .llm-fleet/demo.db   # afterwards: the SLO document with the demo's numbers

Exit codes: 0 stopped with Ctrl-C · 2 usage error or the port is taken.`,
    )
    .action(async (options: DemoOptions & { outageEvery: number; outageFor: number }) => {
      // The demo never talks to anything but its own simulators.
      const env = { ...io.env, LLM_FLEET_LOOPBACK_ONLY: '1' };
      const source = loadFleet(options.fleet ?? EXAMPLE_FLEET, { env: {} });
      const pools = options.fleet === undefined ? DEMO_POOLS : {};
      const sims: SimFleet = await startSimFleet(source, {
        includePlanned: true,
        seed: options.seed,
        replicas: pools,
      });
      const fleet = sims.fleet;
      let stack: Stack | undefined;
      const log = demoLogger(io, fleet, () => stack?.health);
      try {
        stack = await startStack(fleet, io, {
          port: options.port,
          host: '127.0.0.1',
          store: options.store ?? DEMO_STORE,
          env,
          onRecord: (r) => log(r),
          simulated: true,
        });
      } catch (error) {
        await sims.close();
        throw error;
      }
      const { url } = stack;
      io.out(howToCall(url, fleet));

      const timers: NodeJS.Timeout[] = [];
      if (options.traffic) {
        let i = 0;
        const tick = (): void => {
          void backgroundRequest(url, i++).catch(() => undefined);
          timers.push(setTimeout(tick, 700 + Math.random() * 1600));
        };
        timers.push(setTimeout(tick, 500));
      }
      const target = sims.endpoints.get(options.outageEndpoint);
      if (options.outage && target) {
        const stage = (): void => {
          io.out(
            `  staged outage: ${options.outageEndpoint} down for ${options.outageFor} s (traffic fails over to its fallbacks)\n`,
          );
          target.setFaults([{ kind: 'down' }]);
          timers.push(
            setTimeout(() => {
              target.setFaults([]);
              io.out(`  staged outage over: ${options.outageEndpoint} is back\n`);
            }, options.outageFor * 1000),
          );
        };
        // The first outage comes within a minute, so a visitor sees one; then every outageEvery.
        timers.push(
          setTimeout(
            () => {
              stage();
              timers.push(setInterval(stage, options.outageEvery * 1000));
            },
            Math.min(60, options.outageEvery) * 1000,
          ),
        );
      }
      await untilSignal(async () => {
        io.out('\nllm-fleet demo: stopping\n');
        for (const t of timers) clearTimeout(t);
        await stack.stop();
        await sims.close();
      });
    });
  program.addCommand(command);
};
