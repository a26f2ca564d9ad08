// `llm-fleet bench`: load against one endpoint or through the gateway — closed loop, a concurrency
// sweep or open loop — with goodput against the endpoint's SLOs and the generator's own lag.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type { BenchRun, LoadPlan } from '../calibrate/bench.ts';
import { runBench } from '../calibrate/bench.ts';
import { benchCsv, benchHtml } from '../calibrate/bench-report.ts';
import type { BenchStep } from '../calibrate/bench-summary.ts';
import { LAG_WARNING_MS, slosMet } from '../calibrate/bench-summary.ts';
import { sweepLevels } from '../calibrate/arrivals.ts';
import { FleetError } from '../errors.ts';
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { findEndpoint } from '../fleet/index.ts';
import { definitionsHelp, wholeNumber } from './calibrate.ts';
import type { RegisterCommand } from './commands.ts';
import type { CliIo } from './io.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';

interface BenchFlags extends FleetOptions {
  endpoint?: string;
  gateway?: string;
  model?: string;
  concurrency?: number;
  sweep?: string;
  rate?: number;
  burstiness?: number;
  seed?: number;
  requests?: number;
  warmup?: number;
  promptTokens?: number;
  maxTokens?: number;
  batchSize?: number;
  timeout?: number;
  failOnSlo?: boolean;
  json?: boolean;
  csv?: string;
  html?: string;
  plot?: string;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('bench'))
    .description(
      'Load-test an endpoint or the gateway: closed loop, concurrency sweep or open loop, with goodput',
    )
    .option('--endpoint <name>', 'endpoint to load (its SLOs judge goodput)')
    .option(
      '--gateway <url>',
      'send through the gateway at this URL (use --endpoint to pick the SLOs and model)',
    )
    .option('--model <id>', "model id to request (default: the endpoint's served model)")
    .option('-c, --concurrency <n>', 'closed loop at this many requests in flight (default 1)', wholeNumber)
    .option('--sweep <max|list>', 'closed-loop sweep: 1,2,4,…,max (e.g. 16) or a list (e.g. 1,3,9)')
    .option('--rate <req/s>', 'open loop at this offered rate, on an absolute schedule', positiveNumber)
    .option(
      '--burstiness <shape>',
      'open loop gamma shape: 1 = Poisson, < 1 burstier, > 1 steadier',
      positiveNumber,
      1,
    )
    .option('--seed <n>', 'seed of the arrival schedule', wholeNumber, 1)
    .option('-n, --requests <n>', 'requests per step (default 50)', wholeNumber, 50)
    .option('--warmup <n>', 'requests sent first and discarded (default 2)', wholeNumber, 2)
    .option(
      '--prompt-tokens <n>',
      'synthetic prompt length (default: fleet calibration.promptTokens)',
      wholeNumber,
    )
    .option('--max-tokens <n>', 'forced output length (default: fleet calibration.maxTokens)', wholeNumber)
    .option('--batch-size <n>', 'embeddings texts per request (default 32)', wholeNumber)
    .option('--timeout <ms>', 'per-request limit (default 120000)', wholeNumber)
    .option('--fail-on-slo', 'exit 1 when any step misses an SLO of the endpoint')
    .option('--json', 'print the run as JSON')
    .option('--csv <file>', 'write one CSV row per step')
    .option('--html <file>', 'write an HTML report with latency-vs-load charts (works offline)')
    .option('--plot <png>', 'render the HTML report to a PNG with the local Chromium')
    .addHelpText(
      'after',
      `
Load modes:
  closed loop   --concurrency N: N workers, each sends its next request when the last one ends
  sweep         --sweep 16: closed loop at 1, 2, 4, 8, 16 (or --sweep 1,3,9), one step per level
  open loop     --rate R [--burstiness B]: sends on a schedule drawn up front (gamma gaps, mean
                1/R; B = 1 is Poisson) and replayed against absolute time, so slow answers never
                delay later sends. The generator's lag (actual − scheduled send) is reported and a
                warning printed when its P99 exceeds ${LAG_WARNING_MS} ms.

Per step: requests/s and output tokens/s (over first send → last completion), TTFT/ITL/E2E
P50/P95/P99, errors, goodput = share and rate of requests that completed and met every per-request
SLO of the endpoint (TTFT P95 and P99 targets, sustained decode floor, embeddings/s floor); the burst
objective (5% of requests) is judged per step. --fail-on-slo exits 1 when an objective's share of good
requests is below its target (like k6 thresholds).

Definitions:
${definitionsHelp()}

Examples:
  LLM_FLEET_LOOPBACK_ONLY=1 llm-fleet bench -f fleet.yaml --endpoint coder --concurrency 4 -n 100
  llm-fleet bench -f fleet.yaml --endpoint coder --sweep 32 --csv sweep.csv --html sweep.html
  llm-fleet bench -f fleet.yaml --endpoint coder-fast --rate 5 --burstiness 0.5 -n 300 --fail-on-slo
  llm-fleet bench -f fleet.yaml --gateway http://127.0.0.1:8080 --endpoint coder --concurrency 8

Exit codes: 0 ok · 1 SLO missed with --fail-on-slo, or a step where no request completed · 2 usage error.`,
    )
    .action(async (flags: BenchFlags) => {
      const fleet = loadFleetFor(flags, io);
      const endpoint = chooseEndpoint(fleet, flags);
      const url = flags.gateway ?? endpoint.url;
      if (url === undefined)
        throw new FleetError('endpoint_not_running', `endpoint ${endpoint.name} has no URL`, {
          hint: `set ${endpoint.env}`,
        });
      const plan = planOf(flags);
      const run = await runBench({
        endpoint,
        url,
        viaGateway: flags.gateway !== undefined,
        model: flags.model ?? endpoint.servedModel,
        plan,
        requestsPerStep: flags.requests ?? 50,
        warmupRequests: flags.warmup ?? 2,
        promptTokens: flags.promptTokens ?? fleet.calibration.promptTokens,
        maxTokens: flags.maxTokens ?? fleet.calibration.maxTokens,
        batchSize: flags.batchSize ?? endpoint.slo.batchSize ?? fleet.calibration.embeddingBatchSize,
        timeoutMs: flags.timeout ?? 120_000,
        env: io.env,
        onStep: (s) => {
          if (!flags.json)
            io.err(`${s.label}: ${s.completed}/${s.requests} ok, ${s.requestsPerSecond.toFixed(2)} req/s\n`);
        },
      });
      for (const s of run.steps) {
        if (s.lagWarning)
          io.err(
            `warning: ${s.label}: the load generator ran late (lag P99 ${s.lagMs?.p99?.toFixed(3)} ms > ${LAG_WARNING_MS} ms); its figures may describe the client, not the server\n`,
          );
        if (s.tokensFromChunks)
          io.err(`warning: ${s.label}: no usage from the server; tokens are counted events\n`);
      }
      if (flags.json) printJson(io, run);
      else io.out(renderSteps(run));
      if (flags.csv) writeOut(io, flags.csv, benchCsv(run.steps));
      const html = flags.html || flags.plot ? reportHtml(run) : undefined;
      if (flags.html && html) writeOut(io, flags.html, html);
      if (flags.plot && html) await renderPng(html, flags.plot, io);
      if (run.steps.some((s) => s.completed === 0)) io.setExitCode(1);
      if (flags.failOnSlo && !slosMet(run.steps)) {
        io.err('SLO missed (--fail-on-slo)\n');
        io.setExitCode(1);
      }
    });
  program.addCommand(command);
};

function chooseEndpoint(fleet: Fleet, flags: BenchFlags): Endpoint {
  const name = flags.endpoint ?? (flags.gateway ? fleet.routing.defaultEndpoint : undefined);
  if (name === undefined)
    throw new FleetError('usage', 'bench needs --endpoint NAME or --gateway URL', {
      hint: 'e.g. llm-fleet bench -f fleet.yaml --endpoint coder --concurrency 4',
    });
  const e = findEndpoint(fleet, name);
  if (!e)
    throw new FleetError('unknown_endpoint', `unknown endpoint ${name}`, {
      hint: `known: ${fleet.endpoints.map((x) => x.name).join(', ')}`,
    });
  return e;
}

function planOf(flags: BenchFlags): LoadPlan {
  const modes = [flags.concurrency !== undefined, flags.sweep !== undefined, flags.rate !== undefined].filter(
    Boolean,
  );
  if (modes.length > 1)
    throw new FleetError('usage', 'choose one load mode: --concurrency, --sweep or --rate', {
      hint: 'run bench once per mode',
    });
  if (flags.rate !== undefined)
    return {
      mode: 'open',
      ratePerSecond: flags.rate,
      burstiness: flags.burstiness ?? 1,
      seed: flags.seed ?? 1,
    };
  if (flags.sweep !== undefined) {
    const parts = flags.sweep.split(',').map((p) => Number(p.trim()));
    if (parts.some((n) => !Number.isInteger(n) || n < 1))
      throw new FleetError(
        'usage',
        `--sweep: expected a maximum or a list of whole numbers ≥ 1, got ${flags.sweep}`,
        {
          hint: 'e.g. --sweep 16 or --sweep 1,2,4,8',
        },
      );
    return { mode: 'closed', levels: parts.length === 1 ? sweepLevels(parts[0] as number) : parts };
  }
  const c = flags.concurrency ?? 1;
  if (c < 1)
    throw new FleetError('usage', '--concurrency must be at least 1', { hint: 'e.g. --concurrency 4' });
  return { mode: 'closed', levels: [c] };
}

export function renderSteps(run: BenchRun): string {
  const f = (v: number | undefined, d = 1): string => (v === undefined ? '—' : v.toFixed(d));
  const trio = (s: { p50?: number; p95?: number; p99?: number }): string =>
    `${f(s.p50)} / ${f(s.p95)} / ${f(s.p99)}`;
  const rows = run.steps.map((s: BenchStep) => [
    s.label,
    `${s.completed}/${s.requests}`,
    f(s.requestsPerSecond, 2),
    f(s.outputTokensPerSecond),
    trio(s.ttftMs),
    trio(s.itlMs),
    trio(s.e2eMs),
    s.errors,
    `${(s.goodput.share * 100).toFixed(1)}% ${f(s.goodput.perSecond, 2)}/s`,
    s.objectives.every((o) => o.met) ? 'met' : 'MISSED',
    s.lagMs ? `${f(s.lagMs.p99, 3)}${s.lagWarning ? ' !' : ''}` : '—',
  ]);
  const head = [
    'step',
    'ok',
    'req/s',
    'out tok/s',
    'TTFT P50/95/99 ms',
    'ITL P50/95/99 ms',
    'E2E P50/95/99 ms',
    'err',
    'goodput',
    'SLOs',
    'lag P99 ms',
  ];
  const missed = run.steps.flatMap((s) =>
    s.objectives
      .filter((o) => !o.met)
      .map(
        (o) =>
          `  ${s.label}: ${o.description}: ${o.share === undefined ? 'nothing judged' : `${(o.share * 100).toFixed(1)}% good`} (needs ${(o.target * 100).toFixed(0)}%)`,
      ),
  );
  return `${run.endpoint} via ${run.viaGateway ? `gateway ${run.target}` : run.target}, model ${run.model}\n${table(head, rows)}${missed.length > 0 ? `missed objectives:\n${missed.join('\n')}\n` : ''}`;
}

function reportHtml(run: BenchRun): string {
  return benchHtml(run.steps, {
    title: `llm-fleet bench: ${run.endpoint}`,
    target: `${run.viaGateway ? 'gateway ' : ''}${run.target} (model ${run.model})`,
    generatedAt: run.finishedAt,
    definitions: run.definitions,
  });
}

function writeOut(io: CliIo, file: string, text: string): void {
  writeFileSync(file, text);
  io.err(`wrote ${file}\n`);
}

/** Screenshots the self-contained HTML with the local Chromium (no network: everything is inline). */
async function renderPng(html: string, png: string, io: CliIo): Promise<void> {
  const chromium = io.env.LLM_FLEET_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(chromium))
    throw new FleetError('no_chromium', `--plot needs Chromium at ${chromium}`, {
      hint: 'apt-get install -y chromium, set LLM_FLEET_CHROMIUM, or use --html',
    });
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-plot-'));
  try {
    const page = join(dir, 'report.html');
    writeFileSync(page, html);
    await new Promise<void>((done, fail) =>
      execFile(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--no-first-run',
          `--user-data-dir=${join(dir, 'profile')}`,
          `--screenshot=${resolve(png)}`,
          '--window-size=1140,1650',
          '--virtual-time-budget=3000',
          pathToFileURL(page).href,
        ],
        { timeout: 60_000 },
        (error) =>
          error
            ? fail(new FleetError('plot_failed', `Chromium could not render the plot: ${error.message}`))
            : done(),
      ),
    );
    io.err(`wrote ${png}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
