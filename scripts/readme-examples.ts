// The README's console examples, produced by real runs. Each example is a marked block in README.md:
//
//   <!-- example: validate -->
//   ```console
//   $ npx llm-fleet validate -f examples/onex.fleet.yaml
//   …what that command printed…
//   ```
//
// `npm run docs:examples` runs every example's commands (from the repository root, with this
// project's Node and `npx llm-fleet` meaning bin/llm-fleet.js) and rewrites the blocks;
// `npm run docs:examples -- --check` only compares. test/readme-examples.test.ts runs the same
// commands and fails when the README no longer shows what the code prints. The parts that change
// from run to run (ports, times, ids, durations, byte counts) are masked before comparing; an
// example with measured figures masks those too. Examples that need servers start them with the
// prelude's sim_up / serve_up (loopback, stopped when the example's shell exits) and wait_for what
// they print.
//
// `check` and `report` read a store recorded from a real `npm start` run (docs/examples/demo.db):
// `npm run docs:examples -- --record-demo` runs the demo for five minutes and keeps its store.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresMissing } from '../test/support/postgres.ts';
import { prometheusMissing } from '../test/support/prometheus.ts';
import { redisMissing } from '../test/support/redis.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const README = join(ROOT, 'README.md');
/** The store a five-minute `npm start` left behind, and the instant its `check`/`report` examples are judged at. */
export const DEMO_STORE = 'docs/examples/demo.db';
const DEMO_AT_FILE = 'docs/examples/demo-at.txt';

export interface Step {
  /** What the README shows after `$ `. */
  readonly show: string;
  /** What runs (bash, repository root); default `show`. `$TMP` is a fresh directory per example. */
  readonly run?: string;
  /** A command that keeps running (a server): read its output until this appears, then Ctrl-C it. */
  readonly until?: RegExp;
  /** Under --check / in the test: stop at this line instead and compare only what came before it. */
  readonly checkUntil?: RegExp;
  readonly timeoutMs?: number;
}

export interface Example {
  readonly name: string;
  readonly steps: readonly Step[];
  /** Turns one run's volatile values into the README's (e.g. the random port into 4000). */
  readonly present?: (text: string) => string;
  /** Masks beyond the common ones (e.g. every number, for measured figures). */
  readonly mask?: (text: string) => string;
  /** Why the example cannot run here, with the install hint (skipped, and said so); undefined when it can. */
  readonly missing?: () => string | undefined;
}

const CLI = `"${process.execPath}" "${join(ROOT, 'bin/llm-fleet.js')}"`;
/** `npx llm-fleet` and `llm-fleet` run this checkout's CLI with this Node (no npm noise, no registry). */
const PRELUDE = [
  `npx() { if [ "$1" = llm-fleet ]; then shift; ${CLI} "$@"; else command npx "$@"; fi; }`,
  `llm-fleet() { ${CLI} "$@"; }`,
  // For servers started with `&`: the background subshell becomes the CLI's process, so $! is its
  // pid and kill stops it (with llm-fleet, $! was a subshell and the server outlived the example).
  `llm_fleet_bg() { exec ${CLI} "$@"; }`,
  'export -f npx llm-fleet llm_fleet_bg 2>/dev/null',
  'export LLM_FLEET_LOOPBACK_ONLY=1',
  // $TMP is the example's own directory, not the temp dir of the programs it runs (Node reads TMP).
  'export -n TMP',
  // wait_for PATTERN FILE [PID]: until FILE shows PATTERN (a state, never a fixed sleep); fails if PID died.
  'wait_for() { until grep -q -- "$1" "$2" 2>/dev/null; do',
  '  if [ -n "$3" ] && ! kill -0 "$3" 2>/dev/null; then echo "wait_for: exited before \'$1\'" >&2; cat "$2" >&2; return 1; fi',
  '  sleep 0.1; done; }',
  // Background servers an example started (sim_up, serve_up), stopped when the example's shell exits.
  'STOP_PIDS=""',
  `trap '[ -n "$STOP_PIDS" ] && kill $STOP_PIDS 2>/dev/null; wait 2>/dev/null' EXIT`,
  // sim_up [sim options]: the example fleet simulated on loopback (seed 7), its LLM_*_URL exported.
  'sim_up() {',
  '  llm_fleet_bg sim -f "$ROOT/examples/onex.fleet.yaml" --seed 7 --json "$@" >"$TMP/sim.json" 2>"$TMP/sim.err" & SIM_PID=$!',
  '  STOP_PIDS="$STOP_PIDS $SIM_PID"',
  '  wait_for "^}" "$TMP/sim.json" $SIM_PID || { cat "$TMP/sim.err" >&2; return 1; }',
  `  eval "$("${process.execPath}" -e 'for (const [k, v] of Object.entries(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).env)) console.log("export " + k + "=" + v)' "$TMP/sim.json")"`,
  '}',
  // serve_up [serve options]: the example fleet's gateway (no monitor, its store in $TMP) in front of
  // the simulators sim_up started; GW is its base URL.
  'serve_up() {',
  '  llm_fleet_bg serve -f "${FLEET:-$ROOT/examples/onex.fleet.yaml}" --port 0 --no-monitor --store "$TMP/fleet.db" "$@" >"$TMP/serve.log" 2>&1 & SERVE_PID=$!',
  '  STOP_PIDS="$STOP_PIDS $SERVE_PID"',
  '  wait_for "Ctrl-C to stop" "$TMP/serve.log" $SERVE_PID || return 1',
  '  GW=$(grep -o "http://127.0.0.1:[0-9]*" "$TMP/serve.log" | head -n 1)',
  '}',
].join('\n');

/** Sorts each run of consecutive lines matching `line` (lines whose order is not the code's). */
function sortRuns(line: RegExp): (text: string) => string {
  return (text) => {
    const out: string[] = [];
    let run: string[] = [];
    for (const l of [...text.split('\n'), '']) {
      if (line.test(l)) {
        run.push(l);
        continue;
      }
      out.push(...run.sort(), l);
      run = [];
    }
    return out.slice(0, -1).join('\n');
  };
}

/**
 * For measured figures (calibrate, bench): every number, and the verdicts drawn from them (and bench's
 * list of missed objectives), which a loaded machine may move; the rows, columns, units and the words
 * around them stay compared.
 */
function measured(text: string): string {
  return text
    .replace(/^missed objectives:\n(?: .*\n)*/m, '')
    .replace(/\b(?:meets|misses|met|MISSED)\b/g, '<verdict>')
    .replace(/\d+(?:[.,]\d+)*/g, '<n>')
    .replace(/[─━]+/g, '─')
    .replace(/ {2,}/g, ' ');
}

const HAIKU =
  '{"model":"auto","max_tokens":20,"messages":[{"role":"user","content":"Write a haiku about queues"}]}';

const HOLD =
  '{"model":"coder-fast","stream":true,"max_tokens":3000,"messages":[{"role":"user","content":"hold"}]}';

const toPort4000 = (t: string): string => t.replace(/127\.0\.0\.1:\d{2,5}/g, '127.0.0.1:4000');

export const EXAMPLES: readonly Example[] = [
  { name: 'validate', steps: [{ show: 'npx llm-fleet validate -f examples/onex.fleet.yaml' }] },
  { name: 'validate-broken', steps: [{ show: 'npx llm-fleet validate -f test/fixtures/broken.fleet.yaml' }] },
  {
    name: 'route',
    steps: [
      { show: 'npx llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 52000' },
      {
        show: 'npx llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 38000 --max-tokens 4000',
      },
    ],
  },
  {
    name: 'route-gateway',
    steps: [
      {
        show: 'npx llm-fleet route --gateway http://127.0.0.1:4000 --task classification --tokens 300',
        // coder-fast with maxConcurrency 1, busy with one long answer while the gateway is asked.
        run: [
          'sim_up',
          `sed 's/^    notes: Mid-tier routing and classification$/&\\n    maxConcurrency: 1/' examples/onex.fleet.yaml >$TMP/fleet.yaml`,
          'FLEET=$TMP/fleet.yaml serve_up',
          `curl -sN $GW/v1/chat/completions -H 'content-type: application/json' -d '${HOLD}' >/dev/null & STOP_PIDS="$STOP_PIDS $!"`,
          `until curl -s $GW/fleet/load | grep -q '"name":"coder-fast","kind":"chat","inFlight":1,'; do sleep 0.1; done`,
          'llm-fleet route --gateway $GW --task classification --tokens 300',
        ].join('\n'),
      },
    ],
    mask: measured,
  },
  { name: 'lint', steps: [{ show: 'npx llm-fleet lint -f examples/onex.fleet.yaml test/fixtures/lint' }] },
  {
    name: 'demo',
    steps: [
      {
        show: 'npx llm-fleet demo --outage-every 30 --outage-for 20',
        run: 'npx llm-fleet demo --outage-every 30 --outage-for 20 --port 0 --store $TMP/demo.db',
        until: /staged outage over/,
        checkUntil: /Ctrl-C stops everything/,
        timeoutMs: 90_000,
      },
    ],
    present: toPort4000,
  },
  {
    name: 'serve',
    steps: [
      {
        show: 'LLM_CODER_URL=http://127.0.0.1:18000 … npx llm-fleet serve -f examples/onex.fleet.yaml --port 4000',
        run:
          'LLM_CODER_URL=http://127.0.0.1:9 LLM_CODER_FAST_URL=http://127.0.0.1:9 LLM_EMBEDDING_URL=http://127.0.0.1:9 ' +
          'LLM_DEEPSEEK_R1_URL=http://127.0.0.1:9 npx llm-fleet serve -f examples/onex.fleet.yaml --port 0 --no-monitor --store $TMP/fleet.db',
        until: /Ctrl-C to stop/,
      },
    ],
    present: (t) =>
      toPort4000(t).replace(/\/tmp\/llm-fleet-readme-serve-\w+\/fleet\.db/, '.llm-fleet/fleet.db'),
  },
  {
    name: 'sim',
    steps: [
      {
        show: 'npx llm-fleet sim --fleet examples/onex.fleet.yaml --seed 7',
        until: /Press Ctrl-C to stop/,
      },
    ],
  },
  {
    name: 'health',
    steps: [
      {
        show:
          'LLM_CODER_URL=http://127.0.0.1:1 LLM_CODER_FAST_URL=http://127.0.0.1:2 LLM_EMBEDDING_URL=http://127.0.0.1:3 \\\n' +
          '  LLM_DEEPSEEK_R1_URL=http://127.0.0.1:4 npx llm-fleet health -f examples/onex.fleet.yaml',
      },
    ],
  },
  {
    name: 'monitor',
    steps: [
      {
        show: 'npx llm-fleet monitor -f examples/onex.fleet.yaml --store /tmp/readme.db --interval 1s',
        // coder's engine dies once every endpoint is up, and comes back once the monitor saw it down.
        run: [
          'sim_up',
          'llm_fleet_bg monitor -f examples/onex.fleet.yaml --store $TMP/readme.db --interval 1s >$TMP/monitor.log 2>&1 & MON=$!',
          'for e in coder coder-fast embeddings deepseek-r1; do wait_for "$e: unknown → up" $TMP/monitor.log $MON; done',
          'curl -s -o /dev/null -X POST $LLM_CODER_URL/admin/faults -d dead',
          'wait_for "coder: up → down" $TMP/monitor.log $MON',
          "curl -s -o /dev/null -X POST $LLM_CODER_URL/admin/faults -d ''",
          'wait_for "coder: down → up" $TMP/monitor.log $MON',
          'kill $MON; wait $MON',
          'cat $TMP/monitor.log',
        ].join('\n'),
      },
    ],
    present: (t) => t.replace(/\/tmp\/llm-fleet-readme-monitor-\w+\//g, '/tmp/'),
    // The four first probes answer concurrently: their order is the network's, not the code's.
    mask: sortRuns(/: unknown → up$/),
  },
  {
    name: 'calibrate',
    steps: [
      {
        show:
          'npx llm-fleet calibrate coder-fast deepseek-r1 -f fleet.yaml --parallel-hosts --warmup 2 --iterations 12 ' +
          '--max-tokens 32 --note "simulator, VRAM n/a" --write',
        run:
          'sim_up && cp examples/onex.fleet.yaml $TMP/fleet.yaml && cd $TMP && llm-fleet calibrate coder-fast deepseek-r1 ' +
          '-f fleet.yaml --parallel-hosts --warmup 2 --iterations 12 --max-tokens 32 --note "simulator, VRAM n/a" --write',
        timeoutMs: 110_000,
      },
    ],
    // Hosts run side by side, so their progress lines interleave as they happen to; which targets the
    // diff changes follows from the measured figures.
    mask: (t) =>
      measured(
        sortRuns(/^[\w-]+: (?:(?:warmup|measured) \d+\/\d+|done)$/)(t).replace(
          /^(?:[-+] \d+: .*\n)+/gm,
          '<diff lines>\n',
        ),
      ),
  },
  {
    name: 'bench',
    steps: [
      {
        show: 'npx llm-fleet bench -f fleet.yaml --endpoint coder-fast --sweep 4 -n 8 --max-tokens 32 --csv sweep.csv --html sweep.html',
        run:
          'sim_up && cp examples/onex.fleet.yaml $TMP/fleet.yaml && cd $TMP && llm-fleet bench -f fleet.yaml --endpoint coder-fast ' +
          '--sweep 4 -n 8 --max-tokens 32 --csv sweep.csv --html sweep.html',
        timeoutMs: 90_000,
      },
    ],
    present: toPort4000,
    mask: measured,
  },
  {
    name: 'headers',
    steps: [
      {
        show:
          "curl -s -D - localhost:4000/v1/chat/completions -H 'content-type: application/json' \\\n" +
          `    -d '${HAIKU}'`,
        run: `sim_up && serve_up && curl -s -D - $GW/v1/chat/completions -H 'content-type: application/json' -d '${HAIKU}'`,
      },
    ],
    // curl prints the header lines as HTTP sends them, CRLF-terminated.
    present: (t) => t.replace(/\r\n/g, '\n'),
    mask: (t) =>
      t
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
        .replace(/"created":\d+/, '"created":<n>')
        .replace(/^Date: .*$/m, 'Date: <date>')
        .replace(/^content-length: \d+$/m, 'content-length: <n>')
        .replace(/dur=[\d.]+/g, 'dur=<n>')
        // The load-aware reason carries this run's predictions.
        .replace(/^x-llm-fleet-reason: .*$/m, (line) => line.replace(/-?\d+(?:\.\d+)?/g, '<n>')),
  },
  {
    name: 'ha',
    steps: [
      {
        show: 'node examples/ha/run.ts     # what npm run ha runs; [--port 4000] [--traffic RPS] [--duration S] [--json]',
        run: `"${process.execPath}" examples/ha/run.ts --port 0`,
        until: /Ctrl-C stops everything/,
        timeoutMs: 120_000,
      },
    ],
    // The balancer's port is the one a reader uses: 4000, as without --port 0.
    present: (t) => {
      const port = /balancer +http:\/\/127\.0\.0\.1:(\d+)/.exec(t)?.[1];
      return port ? t.replaceAll(`127.0.0.1:${port}`, '127.0.0.1:4000') : t;
    },
    mask: (t) => t.replace(/\(pid \d+;/g, '(pid <n>;').replace(/kill -9 \d+/, 'kill -9 <n>'),
    missing: () => redisMissing() ?? postgresMissing() ?? prometheusMissing(),
  },
  {
    name: 'check',
    steps: [
      {
        show: 'npx llm-fleet check -f examples/onex.fleet.yaml --store .llm-fleet/demo.db --since 1h',
        // A copy: opening a store may migrate its schema, and the recorded one stays as committed.
        run: `cp ${DEMO_STORE} $TMP/demo.db && npx llm-fleet check -f examples/onex.fleet.yaml --store $TMP/demo.db --since 1h --at $DEMO_AT`,
      },
    ],
  },
  {
    name: 'export',
    steps: [
      {
        show: 'npx llm-fleet export prometheus -f examples/onex.fleet.yaml --out rules.yml',
        run: 'cd $TMP && npx llm-fleet export prometheus -f "$ROOT/examples/onex.fleet.yaml" --out rules.yml',
      },
      { show: 'promtool check rules rules.yml', run: 'cd $TMP && promtool check rules rules.yml' },
      { show: 'npx llm-fleet export openslo -f examples/onex.fleet.yaml | grep -c "kind: SLO"' },
      {
        show: 'npx llm-fleet export grafana -f examples/onex.fleet.yaml --out grafana/llm-fleet.json',
        run: 'cd $TMP && npx llm-fleet export grafana -f "$ROOT/examples/onex.fleet.yaml" --out grafana/llm-fleet.json',
      },
    ],
    missing: () =>
      available('promtool')
        ? undefined
        : 'promtool is not installed: apt-get install -y prometheus (Debian ships promtool in it)',
  },
];

/** The masks every comparison applies: what differs between two honest runs of the same code. */
export function maskVolatile(text: string): string {
  return (
    text
      .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z/g, '<time>')
      .replace(/\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b/g, '<clock>')
      .replace(/(127\.0\.0\.1|localhost|\[::1\]):\d+/g, '$1:<port>')
      .replace(/\b\d+(?:\.\d+)? ?(?:ms|µs|s)\b/g, '<duration>')
      .replace(/\(\d+ bytes\)/g, '(<n> bytes)')
      .replace(/\b(cal|run|req|chatcmpl)-[a-z0-9-]+/g, '$1-<id>')
      .replace(/\/tmp\/[^\s)'"]+/g, '<tmp>')
      // Table borders and padding follow the widest cell: compare the cells, not the padding.
      .replace(/[─━]+/g, '─')
      .replace(/ {2,}/g, ' ')
      .replace(/ +$/gm, '')
  );
}

export function comparable(example: Example, text: string): string {
  const masked = maskVolatile(text);
  return example.mask ? example.mask(masked) : masked;
}

export interface Block {
  readonly name: string;
  /** Line index of the opening fence and of the closing fence. */
  readonly open: number;
  readonly close: number;
  readonly body: string;
}

export function readmeBlocks(readme: string): Block[] {
  const lines = readme.split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^<!-- example: ([\w-]+) -->$/.exec(lines[i] ?? '');
    if (!m) continue;
    const open = i + 1;
    if (!/^```console$/.test(lines[open] ?? ''))
      throw new Error(`README.md:${i + 1}: example '${m[1]}' must be followed by a \`\`\`console block`);
    let close = open + 1;
    while (close < lines.length && lines[close] !== '```') close++;
    out.push({ name: m[1] as string, open, close, body: lines.slice(open + 1, close).join('\n') });
  }
  return out;
}

export function rewriteBlocks(readme: string, bodies: ReadonlyMap<string, string>): string {
  const lines = readme.split('\n');
  for (const b of readmeBlocks(readme).reverse()) {
    const body = bodies.get(b.name);
    if (body === undefined) continue;
    lines.splice(b.open + 1, b.close - b.open - 1, ...body.replace(/\n+$/, '').split('\n'));
  }
  return lines.join('\n');
}

export function available(command: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function demoAt(): string {
  const file = join(ROOT, DEMO_AT_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : new Date().toISOString();
}

/** Runs one step and returns what it printed (stdout and stderr, as a terminal shows them). */
export function runStep(step: Step, mode: 'write' | 'check', tmp: string): Promise<string> {
  const stopAt = mode === 'check' && step.checkUntil ? step.checkUntil : step.until;
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${PRELUDE}\n${step.run ?? step.show}`], {
      cwd: ROOT,
      env: {
        ...process.env,
        TMP: tmp,
        ROOT,
        DEMO_AT: demoAt(),
        LLM_FLEET_LOOPBACK_ONLY: '1',
        NO_COLOR: '1',
        FORCE_COLOR: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let text = '';
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      try {
        process.kill(-(child.pid as number), 'SIGINT');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(`'${step.show}' did not finish within ${(step.timeoutMs ?? 60_000) / 1000} s:\n${text}`),
      );
    }, step.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer): void => {
      if (stopped) return;
      text += chunk.toString('utf8');
      if (stopAt?.test(text)) {
        // Keep whole lines up to and including the one that matched.
        const at = text.search(stopAt);
        const end = text.indexOf('\n', at);
        text = end === -1 ? text : text.slice(0, end + 1);
        stop();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** The block body one real run of the example gives: `$ command` lines, each followed by its output. */
export async function runExample(example: Example, mode: 'write' | 'check'): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), `llm-fleet-readme-${example.name}-`));
  try {
    let out = '';
    for (const step of example.steps) {
      const printed = (await runStep(step, mode, tmp)).replace(/\n+$/, '');
      out += `$ ${step.show}\n${example.present ? example.present(printed) : printed}\n`;
    }
    return out.replace(/\n+$/, '');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** For --check and the test: the README's block cut where the check run stops. */
export function checkedPart(example: Example, body: string): string {
  const cut = example.steps.find((s) => s.checkUntil)?.checkUntil;
  if (!cut) return body;
  const at = body.search(cut);
  if (at === -1) return body;
  const end = body.indexOf('\n', at);
  return end === -1 ? body : body.slice(0, end);
}

/** Five minutes of `npm start` (default options) into docs/examples/demo.db, and the instant it ended. */
async function recordDemo(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'llm-fleet-readme-record-'));
  const seconds = Number(process.env.LLM_FLEET_RECORD_SECONDS ?? 300);
  process.stdout.write(`recording ${seconds} s of the demo into ${DEMO_STORE} …\n`);
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/llm-fleet.js'), 'demo', '--port', '0', '--store', join(tmp, 'demo.db')],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const at = new Date().toISOString();
  child.kill('SIGINT');
  await new Promise((r) => child.on('close', r));
  // One self-contained file: the demo closed its store, so the WAL is checkpointed into it.
  cpSync(join(tmp, 'demo.db'), join(ROOT, DEMO_STORE));
  writeFileSync(join(ROOT, DEMO_AT_FILE), `${at}\n`);
  rmSync(tmp, { recursive: true, force: true });
}

async function cli(): Promise<void> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  if (args.includes('--record-demo')) await recordDemo();
  const only = args.filter((a) => !a.startsWith('--'));
  const readme = readFileSync(README, 'utf8');
  const blocks = new Map(readmeBlocks(readme).map((b) => [b.name, b]));
  const bodies = new Map<string, string>();
  let stale = 0;
  for (const example of EXAMPLES) {
    if (only.length > 0 && !only.includes(example.name)) continue;
    if (!blocks.has(example.name)) {
      process.stdout.write(
        `README.md has no block for example '${example.name}' (<!-- example: ${example.name} -->)\n`,
      );
      stale++;
      continue;
    }
    const missing = example.missing?.();
    if (missing) {
      process.stdout.write(`${example.name}: SKIPPED — ${missing}\n`);
      continue;
    }
    const body = await runExample(example, check ? 'check' : 'write');
    if (check) {
      const want = comparable(example, checkedPart(example, blocks.get(example.name)?.body ?? ''));
      const got = comparable(example, body);
      if (want !== got) {
        stale++;
        process.stdout.write(`${example.name}: README differs from the current output\n`);
      } else process.stdout.write(`${example.name}: ok\n`);
    } else {
      bodies.set(example.name, body);
      process.stdout.write(`${example.name}: regenerated\n`);
    }
  }
  if (!check) writeFileSync(README, rewriteBlocks(readme, bodies));
  if (stale > 0) {
    process.stdout.write(`${stale} example(s) stale: run npm run docs:examples\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await cli();
