// `llm-fleet sim`: start simulated endpoints on loopback — a whole fleet file (every routable
// endpoint, URLs rewritten to 127.0.0.1) or one endpoint of a given dialect — print where they
// listen and the env lines that point clients at them, and run until SIGINT/SIGTERM.
import { Command, Option } from 'commander';
import { FleetError } from '../errors.ts';
import type { Dialect, EndpointKind } from '../fleet/index.ts';
import { endpointByName } from '../fleet/index.ts';
import type { FaultSpec, LatencyModel, SimServer } from '../sim/index.ts';
import { FAULT_KINDS, parseFaults, startSimEndpoint, startSimFleet } from '../sim/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { CliIo } from './io.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, table, withFleetOptions } from './shared.ts';

interface SimOptions extends FleetOptions {
  only: string[];
  seed?: string;
  includePlanned?: boolean;
  latencyScale?: string;
  basePort?: string;
  fault: string[];
  dialect?: Dialect;
  kind?: EndpointKind;
  model?: string;
  port?: string;
  host?: string;
  context?: string;
  reasoning?: boolean;
  reasoningParser?: 'qwen3' | 'deepseek_r1';
  startupMs?: string;
  serverVersion?: string;
  prefillOverheadMs?: string;
  prefillMsPerToken?: string;
  ttftP99Ratio?: string;
  decodeTps?: string;
  maxNumSeqs?: string;
  maxNumBatchedTokens?: string;
  kvCacheTokens?: string;
  blockSize?: string;
  prefillStepSize?: string;
  promptConcurrency?: string;
  maxBatchTokens?: string;
  replicas: string[];
  ssePingMs?: string;
  tokensPerChunk?: string;
  slots?: boolean;
  ignoresForcedLength?: boolean;
  naturalAnswerTokens?: string;
  usage?: boolean;
  promptTokenRatio?: string;
  apiKey?: string;
  refuseField: string[];
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value.split(',').filter(Boolean),
];
const collectRaw = (value: string, previous: string[]): string[] => [...previous, value];

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('sim'))
    .description(
      'Run simulated vLLM / mlx_lm / llama.cpp / TEI endpoints on loopback (a fleet file, or one endpoint)',
    )
    .option('--only <names>', 'fleet mode: only these endpoints (comma-separated, repeatable)', collect, [])
    .option('--include-planned', 'fleet mode: also simulate endpoints whose status is planned')
    .option('--base-port <port>', 'fleet mode: listen on consecutive ports from here (default: ephemeral)')
    .option('--seed <n>', 'output and jitter seed, shared by every endpoint (default 0)')
    .option('--latency-scale <x>', 'multiply every simulated duration (0.01 = 100x faster)')
    .option(
      '--fault <spec>',
      `fault, e.g. 503:retry-after=2,fraction=0.5 or cut:after=20,first=3 (fleet mode: NAME=SPEC); kinds: ${FAULT_KINDS.join(', ')}`,
      collectRaw,
      [],
    )
    .addOption(
      new Option('--dialect <dialect>', 'single mode: the server to simulate').choices([
        'vllm',
        'mlx',
        'llamacpp',
        'tei',
      ]),
    )
    .option('--model <id>', 'single mode: served model id')
    .addOption(new Option('--kind <kind>', 'single mode: chat or embeddings').choices(['chat', 'embeddings']))
    .option('--port <port>', 'single mode: port (default: ephemeral)')
    .option('--host <host>', 'loopback address to listen on', '127.0.0.1')
    .option('--context <tokens>', 'single mode: context window (vLLM max_model_len, llama.cpp n_ctx)')
    .option('--reasoning', 'single mode: emit reasoning tokens before the answer')
    .addOption(
      new Option(
        '--reasoning-parser <name>',
        'single mode, vLLM: the --reasoning-parser whose split a continued answer gets',
      ).choices(['qwen3', 'deepseek_r1']),
    )
    .option(
      '--startup-ms <ms>',
      'single mode: loading phase (llama.cpp 503 Loading model; others refuse connections)',
    )
    .option(
      '--server-version <v>',
      'single mode: server version, e.g. vLLM 0.12.0 (reasoning key, error wording)',
    )
    .option('--prefill-overhead-ms <ms>', 'single mode: fixed part of TTFT')
    .option('--prefill-ms-per-token <ms>', 'single mode: TTFT per uncached prompt token')
    .option('--ttft-p99-ratio <x>', 'single mode: TTFT jitter, P99 / median (log-normal)')
    .option('--decode-tps <n>', 'single mode: median decode tokens/s of one sequence')
    .option(
      '--max-num-seqs <n>',
      'single mode: requests running at once (vLLM --max-num-seqs, llama.cpp --parallel, mlx_lm --decode-concurrency); more wait',
    )
    .option(
      '--max-num-batched-tokens <n>',
      'single mode: tokens per engine step, prefill and decode together (vLLM default 2048, llama.cpp --batch-size 2048)',
    )
    .option(
      '--kv-cache-tokens <n>',
      'single mode, vLLM: KV-cache capacity in tokens (default 2 × the context window)',
    )
    .option('--block-size <n>', 'single mode, vLLM: tokens per KV block (default 16)')
    .option(
      '--prefill-step-size <n>',
      'single mode, mlx_lm: prompt tokens per step and request (default 2048)',
    )
    .option('--prompt-concurrency <n>', 'single mode, mlx_lm ≥ 0.29: prompts prefilled at once (default 8)')
    .option(
      '--max-batch-tokens <n>',
      'single mode: tokens in one embeddings batch (TEI --max-batch-tokens, 16384)',
    )
    .option(
      '--replicas <name=n>',
      'fleet mode: run n independent simulated servers of an endpoint (own engine and prefix cache each)',
      collectRaw,
      [],
    )
    .option(
      '--sse-ping-ms <ms>',
      'single mode, llama.cpp: write a `:` comment after this much stream silence',
    )
    .option(
      '--tokens-per-chunk <n>',
      'single mode: tokens per streamed event after the first (speculative decoding, batched writes)',
    )
    .option('--no-slots', 'single mode, llama.cpp: disable /slots (501), as llama-server --no-slots')
    .option('--ignores-forced-length', 'single mode: read ignore_eos / min_tokens but do not act on them')
    .option('--natural-answer-tokens <n>', 'single mode: the model stops on its own after n content tokens')
    .option('--no-usage', 'single mode: never send usage (no usage chunk, no usage in whole bodies)')
    .option(
      '--prompt-token-ratio <x>',
      "single mode: the server's tokenizer counts x tokens per simulator token in prompts",
    )
    .option(
      '--api-key <key>',
      "single mode: the server's --api-key (vLLM, llama.cpp, TEI; refused as each server refuses; mlx_lm has none)",
    )
    .option(
      '--refuse-field <name>',
      'single mode, mlx_lm: also close the connection on a request carrying this field (a check the gateway does not know; repeatable)',
      collect,
      [],
    )
    .option('--json', 'print the URL map as JSON instead of a table')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet sim --fleet examples/onex.fleet.yaml
  llm-fleet sim --fleet examples/onex.fleet.yaml --only coder,coder-fast --seed 7 --fault coder=cut:after=20,first=1
  llm-fleet sim --dialect vllm --port 8000 --model qwen3-coder --context 65536
  llm-fleet sim --dialect llamacpp --model r1 --reasoning --startup-ms 5000 --fault 503:retry-after=2,fraction=0.1

Faults can also be set at run time: curl -X POST http://127.0.0.1:PORT/admin/faults -d 'flap:down=5s,period=30s'
(loopback only; '' clears), or per request with the header x-sim-fault: cut:after=5.
Ground truth per request: GET /admin/truth (DELETE clears).

Runs until SIGINT or SIGTERM. Exit codes: 0 stopped cleanly · 2 usage or fleet-file error.`,
    )
    .action(async (options: SimOptions) => {
      const servers =
        options.dialect !== undefined ? await startSingle(options, io) : await startFleet(options, io);
      await untilSignal();
      await Promise.all(servers.map((s) => s.close()));
      io.err('llm-fleet sim: stopped\n');
    });
  program.addCommand(command);
};

async function startFleet(options: SimOptions, io: CliIo): Promise<SimServer[]> {
  if (options.model !== undefined || options.port !== undefined) {
    throw new FleetError('sim_usage', '--model and --port start one endpoint and need --dialect', {
      hint: 'use --dialect vllm --model M --port P for one endpoint, or --fleet F for a fleet file',
    });
  }
  const fleet = loadFleetFor(options, io);
  for (const name of options.only) {
    if (!endpointByName(fleet, name)) {
      throw new FleetError(
        'sim_unknown_endpoint',
        `--only ${name}: no endpoint of that name in ${fleet.source}`,
        {
          hint: `endpoints: ${fleet.endpoints.map((e) => e.name).join(', ')}`,
        },
      );
    }
  }
  const faults: Record<string, FaultSpec[]> = {};
  for (const raw of options.fault) {
    const eq = raw.indexOf('=');
    const colon = raw.indexOf(':');
    if (eq < 0 || (colon >= 0 && colon < eq)) {
      throw new FleetError(
        'sim_usage',
        `--fault ${raw}: in fleet mode write NAME=SPEC, e.g. coder=503:retry-after=2`,
      );
    }
    const name = raw.slice(0, eq);
    if (!endpointByName(fleet, name))
      throw new FleetError('sim_unknown_endpoint', `--fault ${raw}: no endpoint ${name}`);
    faults[name] = [...(faults[name] ?? []), ...faultsOf(raw.slice(eq + 1))];
  }
  const basePort = optionalInt(options.basePort, '--base-port');
  const ports: Record<string, number> = {};
  if (basePort !== undefined) {
    fleet.endpoints.forEach((e, i) => {
      ports[e.name] = basePort + i;
    });
  }
  const replicas: Record<string, number> = {};
  for (const raw of options.replicas) {
    const [name = '', count = ''] = raw.split('=');
    if (!endpointByName(fleet, name))
      throw new FleetError('sim_unknown_endpoint', `--replicas ${raw}: no endpoint ${name}`);
    const n = optionalInt(count, `--replicas ${name}=`);
    if (n === undefined || n < 1)
      throw new FleetError('sim_usage', `--replicas ${raw}: write NAME=N with N ≥ 1, e.g. coder=2`);
    replicas[name] = n;
  }
  const seed = optionalInt(options.seed, '--seed') ?? 0;
  const sim = await startSimFleet(fleet, {
    replicas,
    only: options.only,
    seed,
    includePlanned: options.includePlanned,
    latencyScale: optionalNumber(options.latencyScale, '--latency-scale'),
    faults,
    ports,
  }).catch((error: unknown) => {
    throw listenError(error);
  });
  const rows = [...sim.endpoints].map(([name, server]) => {
    const e = sim.fleet.endpoints.find((x) => x.name === name);
    return {
      name,
      env: e?.env ?? '',
      dialect: server.options.dialect,
      model: server.options.model,
      url: server.url,
      replicas: (sim.replicas.get(name) ?? []).map((r) => r.url),
      faults: server.faults(),
    };
  });
  if (options.json) {
    io.out(`${JSON.stringify({ fleet: fleet.name, seed, endpoints: rows, env: sim.env }, null, 2)}\n`);
  } else {
    io.out(`Simulating ${fleet.name} (${fleet.source}) on loopback, seed ${seed}:\n`);
    io.out(
      table(
        ['endpoint', 'dialect', 'model', 'url', 'faults'],
        rows.flatMap((r) =>
          r.replicas.map((url, i) => [
            i === 0 ? r.name : `${r.name} (replica ${i + 1})`,
            r.dialect,
            r.model,
            url,
            r.faults.length ? r.faults.map((f) => f.kind).join(',') : '—',
          ]),
        ),
      ),
    );
    for (const [env, url] of Object.entries(sim.env)) io.out(`export ${env}=${url}\n`);
    io.out('Press Ctrl-C to stop.\n');
  }
  return [...sim.replicas.values()].flat();
}

async function startSingle(options: SimOptions, io: CliIo): Promise<SimServer[]> {
  if (options.model === undefined) {
    throw new FleetError('sim_usage', '--dialect needs --model (the served model id)', {
      hint: 'e.g. llm-fleet sim --dialect vllm --model qwen3-coder --port 8000',
    });
  }
  if (options.only.length > 0 || options.fleet !== undefined) {
    throw new FleetError('sim_usage', '--dialect starts one endpoint; --fleet/--only belong to fleet mode');
  }
  const latency: { -readonly [K in keyof LatencyModel]?: LatencyModel[K] } = {};
  const set = <K extends keyof LatencyModel>(key: K, value: string | undefined, flag: string): void => {
    const n = optionalNumber(value, flag);
    if (n !== undefined) latency[key] = n as LatencyModel[K];
  };
  set('prefillOverheadMs', options.prefillOverheadMs, '--prefill-overhead-ms');
  set('prefillMsPerToken', options.prefillMsPerToken, '--prefill-ms-per-token');
  set('ttftJitterP99Ratio', options.ttftP99Ratio, '--ttft-p99-ratio');
  set('decodeTokensPerSecond', options.decodeTps, '--decode-tps');
  set('maxNumSeqs', options.maxNumSeqs, '--max-num-seqs');
  const engine = {
    maxNumBatchedTokens: optionalInt(options.maxNumBatchedTokens, '--max-num-batched-tokens'),
    kvCacheTokens: optionalInt(options.kvCacheTokens, '--kv-cache-tokens'),
    blockSizeTokens: optionalInt(options.blockSize, '--block-size'),
    prefillChunkTokens: optionalInt(options.prefillStepSize, '--prefill-step-size'),
    maxConcurrentPrefills: optionalInt(options.promptConcurrency, '--prompt-concurrency'),
    maxBatchTokens: optionalInt(options.maxBatchTokens, '--max-batch-tokens'),
  };
  set('scale', options.latencyScale, '--latency-scale');
  const faults = options.fault.flatMap(faultsOf);
  const server = await startSimEndpoint({
    dialect: options.dialect as Dialect,
    model: options.model,
    kind: options.kind,
    host: options.host,
    port: optionalInt(options.port, '--port') ?? 0,
    contextWindowTokens: optionalInt(options.context, '--context'),
    reasoning: options.reasoning,
    reasoningParser: options.reasoningParser,
    seed: optionalInt(options.seed, '--seed'),
    latency,
    engine,
    faults,
    startupMs: optionalNumber(options.startupMs, '--startup-ms'),
    version: options.serverVersion,
    ssePingIntervalMs: optionalNumber(options.ssePingMs, '--sse-ping-ms'),
    tokensPerChunk: optionalInt(options.tokensPerChunk, '--tokens-per-chunk'),
    slotsEndpoint: options.slots,
    ignoresForcedLength: options.ignoresForcedLength,
    naturalAnswerTokens: optionalInt(options.naturalAnswerTokens, '--natural-answer-tokens'),
    sendsUsage: options.usage,
    promptTokenRatio: optionalNumber(options.promptTokenRatio, '--prompt-token-ratio'),
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    ...(options.refuseField.length > 0 ? { refuseFields: options.refuseField } : {}),
  }).catch((error: unknown) => {
    throw listenError(error);
  });
  if (options.json) {
    io.out(
      `${JSON.stringify({ dialect: server.options.dialect, model: server.options.model, url: server.url, faults: server.faults() }, null, 2)}\n`,
    );
  } else {
    io.out(`Simulating ${server.options.dialect} serving ${server.options.model} at ${server.url}\n`);
    io.out('Press Ctrl-C to stop.\n');
  }
  return [server];
}

function faultsOf(spec: string): FaultSpec[] {
  try {
    return parseFaults(spec);
  } catch (error) {
    throw new FleetError(
      'sim_bad_fault',
      `--fault ${spec}: ${error instanceof Error ? error.message : String(error)}`,
      {
        hint: 'write kind[:key=value,…], e.g. 503:retry-after=2,fraction=0.5 or flap:down=5s,period=30s',
      },
    );
  }
}

function optionalNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new FleetError('sim_usage', `${flag} ${value}: expected a non-negative number`);
  }
  return n;
}

function optionalInt(value: string | undefined, flag: string): number | undefined {
  const n = optionalNumber(value, flag);
  if (n !== undefined && !Number.isInteger(n))
    throw new FleetError('sim_usage', `${flag} ${value}: expected an integer`);
  return n;
}

function listenError(error: unknown): Error {
  if (error instanceof FleetError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    return new FleetError('sim_listen', `cannot listen: ${(error as Error).message}`, {
      hint: 'pick another --port / --base-port, or leave it out for an ephemeral port',
    });
  }
  if (error instanceof RangeError) return new FleetError('sim_usage', error.message);
  return error instanceof Error ? error : new Error(String(error));
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
