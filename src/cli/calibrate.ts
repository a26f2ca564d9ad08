// `llm-fleet calibrate`: the seed's Measurement Procedure against each endpoint directly, with
// proposed targets, the server's fingerprint and, on request, the targets written back in place.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import type { CalibrationRun, EndpointCalibration, Progress } from '../calibrate/index.ts';
import {
  lineDiff,
  rewriteFleetText,
  runCalibration,
  runNotes,
  SUMMARY_HEAD,
  summaryRows,
} from '../calibrate/index.ts';
import { FleetError } from '../errors.ts';
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { findEndpoint, routableEndpoints } from '../fleet/index.ts';
import { DEFINITIONS } from '../measure/index.ts';
import { sloFingerprint } from '../calibrate/server-state.ts';
import { hardwareDescription } from '../slo/fingerprint.ts';
import type { CalibrationRunInput } from '../store/types.ts';
import type { StoreOptions } from './store-options.ts';
import { openStoreFor, withStoreOption } from './store-options.ts';
import type { RegisterCommand } from './commands.ts';
import type { CliIo } from './io.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';

interface CalibrateFlags extends FleetOptions, Omit<StoreOptions, 'store'> {
  /** A path, or false with --no-store. */
  store?: string | false;
  warmup?: number;
  iterations?: number;
  parallelHosts?: boolean;
  note?: string;
  networkOverhead?: string;
  promptTokens?: number;
  maxTokens?: number;
  batchSize?: number;
  json?: boolean;
  out?: string;
  write?: boolean;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}

export function definitionsHelp(): string {
  return Object.entries(DEFINITIONS)
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
}

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('calibrate')))
    .description("Measure endpoints by the seed's procedure and propose SLO targets")
    .argument('[endpoints...]', 'endpoint names (default: every running endpoint)')
    .option(
      '--warmup <n>',
      'warm-up iterations, discarded (default: fleet calibration.warmup, 50)',
      wholeNumber,
    )
    .option(
      '--iterations <n>',
      'measured iterations (default: fleet calibration.iterations, 200)',
      wholeNumber,
    )
    .option('--parallel-hosts', 'run endpoints on different hosts at the same time (never two on one host)')
    .option('--note <text>', 'what only a person can see (VRAM, thermal state), kept with the run')
    .option(
      '--network-overhead <ms|fleet>',
      "network overhead added before the margin: a number of ms, or `fleet` for the fleet file's upper bound (default: measured, median TCP connect over 10 tries)",
    )
    .option(
      '--prompt-tokens <n>',
      'synthetic prompt length (default: fleet calibration.promptTokens)',
      wholeNumber,
    )
    .option('--max-tokens <n>', 'forced output length (default: fleet calibration.maxTokens)', wholeNumber)
    .option(
      '--batch-size <n>',
      "embeddings texts per request (default: the endpoint's batchSize, 32)",
      wholeNumber,
    )
    .option('--json', 'print the whole run as JSON, every raw sample included')
    .option('--out <dir>', 'save the run (samples, fingerprint, proposals) as JSON in this directory')
    .option('--write', 'write the proposed targets into the fleet file in place (shows the diff first)')
    .option(
      '--no-store',
      'do not record the run in the store (it is recorded by default: check compares fingerprints)',
    )
    .addHelpText(
      'after',
      `
Procedure (per endpoint, directly, never through the gateway):
  1. warm-up iterations, discarded; 2. measured iterations one at a time; endpoints on the same host
  never run together (--parallel-hosts runs different hosts side by side); 3. P50/P95/P99 of every
  metric; 4. TTFT target = (measured percentile + network overhead) × safety margin for P95 and P99
  each (calibration.base: same = each from its own percentile, p99 = both from P99); throughput
  floors = measured / margin; 5. rounding: nearest 100 ms for TTFT, the fleet file's step for
  throughput (made finer when it would move a value by more than ~6%, never to zero); 6. the
  server's state (vLLM /version, /v1/models root and max_model_len, /metrics KV cache and
  running/waiting before and after, llama.cpp /props, TEI /info, system_fingerprint) plus --note.
  Prompts carry a unique prefix (no prefix-cache hits); output length is forced with ignore_eos and
  min_tokens where the server allows. Embeddings: batches of 32 texts, latency and embeddings/s.
  An endpoint that fails during the run is reported and gets no figures.

Definitions:
${definitionsHelp()}

Examples:
  LLM_FLEET_LOOPBACK_ONLY=1 llm-fleet calibrate -f fleet.yaml
  llm-fleet calibrate coder coder-fast -f fleet.yaml --warmup 10 --iterations 50 --note "VRAM 21/32 GB, 64°C"
  llm-fleet calibrate -f fleet.yaml --parallel-hosts --out runs/ --write

Exit codes: 0 every endpoint measured and meeting its current targets · 1 an endpoint failed or
misses a current target · 2 usage or configuration error.`,
    )
    .action(async (names: string[], flags: CalibrateFlags) => {
      const fleet = loadFleetFor(flags, io);
      const endpoints = chooseEndpoints(fleet, names);
      const overhead = parseOverhead(flags.networkOverhead, fleet);
      const run = await runCalibration(fleet, endpoints, {
        warmupIterations: flags.warmup ?? fleet.calibration.warmupIterations,
        iterations: flags.iterations ?? fleet.calibration.iterations,
        parallelHosts: Boolean(flags.parallelHosts),
        note: flags.note,
        networkOverheadMs: overhead?.valueMs,
        networkOverheadSource: overhead?.source,
        promptTokens: flags.promptTokens,
        maxTokens: flags.maxTokens,
        batchSize: flags.batchSize,
        env: io.env,
        onProgress: progressReporter(io, endpoints),
      });
      if (flags.out) saveRun(flags.out, run, io);
      if (flags.store !== false) await storeRun(fleet, run, flags.store, io);
      if (flags.json) printJson(io, run);
      else {
        io.out(table(SUMMARY_HEAD, summaryRows(run)));
        io.out(runNotes(run));
      }
      if (flags.write) writeTargets(fleet, run, io, Boolean(flags.json));
      const bad = run.endpoints.some((e) => e.verdict === 'failed' || e.verdict === 'misses');
      if (bad) io.setExitCode(1);
    });
  program.addCommand(command);
};

function chooseEndpoints(fleet: Fleet, names: readonly string[]): Endpoint[] {
  if (names.length === 0) {
    const all = routableEndpoints(fleet);
    if (all.length === 0)
      throw new FleetError('no_endpoints', 'no running endpoint with a URL to calibrate', {
        hint: "set the endpoints' URL env vars or ports in the fleet file",
      });
    return all;
  }
  return names.map((name) => {
    const e = findEndpoint(fleet, name);
    if (!e)
      throw new FleetError('unknown_endpoint', `unknown endpoint ${name}`, {
        hint: `known: ${fleet.endpoints.map((x) => x.name).join(', ')}`,
      });
    if (e.status !== 'running' || e.url === undefined)
      throw new FleetError('endpoint_not_running', `endpoint ${e.name} is ${e.status} and has no URL`, {
        hint: `set ${e.env} to its URL`,
      });
    return e;
  });
}

function parseOverhead(
  value: string | undefined,
  fleet: Fleet,
): { valueMs: number; source: 'flag' | 'fleet' } | undefined {
  if (value === undefined) return undefined;
  if (value === 'fleet') return { valueMs: fleet.calibration.networkOverheadMs.max, source: 'fleet' };
  const n = Number(value.replace(/ms$/, ''));
  if (!Number.isFinite(n) || n < 0)
    throw new FleetError('bad_option', `--network-overhead: expected milliseconds or 'fleet', got ${value}`, {
      hint: 'e.g. --network-overhead 12 or --network-overhead fleet',
    });
  return { valueMs: n, source: 'flag' };
}

function progressReporter(io: CliIo, endpoints: readonly Endpoint[]): (p: Progress) => void {
  if (io.isTty) {
    const multi = new cliProgress.MultiBar(
      {
        format: ' {endpoint} |{bar}| {phase} {value}/{total}',
        hideCursor: true,
        clearOnComplete: false,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    const bars = new Map(
      endpoints.map((e) => [e.name, multi.create(1, 0, { endpoint: e.name.padEnd(14), phase: 'waiting' })]),
    );
    let finished = 0;
    return (p) => {
      const bar = bars.get(p.endpoint);
      if (!bar) return;
      if (p.phase === 'done' || p.phase === 'failed') {
        bar.update(bar.getTotal(), { phase: p.phase === 'failed' ? `FAILED ${p.message ?? ''}` : 'done' });
        if (++finished === bars.size) multi.stop();
        return;
      }
      bar.setTotal(Math.max(1, p.total));
      bar.update(p.done, { phase: p.phase });
    };
  }
  return (p) => {
    const quarter = Math.max(1, Math.round(p.total / 4));
    if (p.phase === 'failed') io.err(`${p.endpoint}: FAILED ${p.message ?? ''}\n`);
    else if (p.phase === 'done') io.err(`${p.endpoint}: done\n`);
    else if (p.phase !== 'overhead' && (p.done === p.total || p.done % quarter === 0))
      io.err(`${p.endpoint}: ${p.phase} ${p.done}/${p.total}\n`);
  };
}

function saveRun(dir: string, run: CalibrationRun, io: CliIo): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run.id}.json`);
  writeFileSync(file, `${JSON.stringify(run, null, 2)}\n`);
  io.err(`saved ${file}\n`);
}

/** One stored run per completed endpoint; a failed endpoint has nothing worth comparing against later. */
export function storedRuns(fleet: Fleet, run: CalibrationRun): CalibrationRunInput[] {
  return run.endpoints
    .filter(
      (e): e is EndpointCalibration & { metrics: NonNullable<EndpointCalibration['metrics']> } =>
        e.status === 'completed' && e.metrics !== undefined,
    )
    .map((e) => {
      const endpoint = fleet.endpoints.find((x) => x.name === e.endpoint) as Endpoint;
      const m = e.metrics;
      const numbers = (o: Record<string, number | undefined>): Record<string, number> =>
        Object.fromEntries(Object.entries(o).filter((kv): kv is [string, number] => kv[1] !== undefined));
      const p = e.proposal ?? {};
      const startedAtMs = Date.parse(e.startedAt);
      return {
        endpoint: e.endpoint,
        startedAtMs,
        finishedAtMs: Date.parse(e.finishedAt),
        iterations: e.measuredCompleted,
        warmupIterations: e.warmupCompleted,
        summary: numbers({
          ttftP50Ms: m.ttftMs.p50,
          ttftP95Ms: m.ttftMs.p95,
          ttftP99Ms: m.ttftMs.p99,
          decodeTokensPerSecondP50: m.decodeTokensPerSecond.p50,
          burstTokensPerSecondP95: m.burstTokensPerSecond.p95,
          embeddingsPerSecondP50: m.embeddingsPerSecond.p50,
          networkOverheadMs: e.networkOverhead?.valueMs,
        }),
        proposed: numbers({
          ttftP95Ms: p.ttftP95Ms?.value,
          ttftP99Ms: p.ttftP99Ms?.value,
          sustainedTokensPerSecond: p.sustainedTokensPerSecond?.value,
          burstTokensPerSecond: p.burstTokensPerSecond?.value,
          embeddingsPerSecond: p.embeddingsPerSecond?.value,
        }),
        fingerprint: sloFingerprint(
          e.fingerprint ?? { endpoint: e.endpoint, dialect: e.dialect, unavailable: [] },
          hardwareDescription(fleet, endpoint),
          startedAtMs,
        ),
        note: run.note,
        samples: e.samples,
      };
    });
}

async function storeRun(
  fleet: Fleet,
  run: CalibrationRun,
  path: string | undefined,
  io: CliIo,
): Promise<void> {
  const rows = storedRuns(fleet, run);
  if (rows.length === 0) return;
  const store = await openStoreFor(fleet, { store: path }, io, 'write');
  try {
    for (const row of rows) await store.saveCalibrationRun(row);
  } finally {
    await store.close();
  }
  io.err(`recorded ${rows.length} calibration run(s) in the store\n`);
}

function writeTargets(fleet: Fleet, run: CalibrationRun, io: CliIo, json: boolean): void {
  const updates = run.endpoints
    .filter((e) => e.status === 'completed' && e.proposal)
    .map((e) => ({ endpoint: e.endpoint, proposal: e.proposal ?? {} }));
  const say = json ? io.err : io.out;
  if (updates.length === 0) {
    say('--write: no completed endpoint, the fleet file is unchanged\n');
    return;
  }
  const before = readFileSync(fleet.source, 'utf8');
  const result = rewriteFleetText(before, fleet.source, updates, { env: io.env });
  if (result.changes.length === 0) {
    say(`--write: ${fleet.source} already holds the proposed targets\n`);
    return;
  }
  say(`--write: ${fleet.source}\n${lineDiff(before, result.text)}`);
  writeFileSync(fleet.source, result.text);
  say(`wrote ${result.changes.length} target(s) to ${fleet.source}\n`);
}
