// Folds a V8 .cpuprofile of the gateway (node --cpu-prof) into the issue-16 table: where the
// gateway's CPU goes, per request and per streamed event, by what the code does. Each sample is
// charged to the nearest frame of ours above it (so JSON.parse, RegExp and TextDecoder count for
// the code that called them), except that socket and HTTP work (node:http, node:net, streams,
// undici) counts as I/O — what any proxy pays — unless the frame of ours is the store, the log or
// metrics. Idle time is left out; the share is of the gateway's busy CPU.
// Run: node bench/profile-summary.ts <file.cpuprofile> [--requests N --events M | --bench out.txt]
//   (--bench reads the "through the gateway in all" line bench/gateway-overhead.ts prints)
//   [--json] [--top 20]  (--top lists the heaviest functions inside each category too)
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string' },
    events: { type: 'string' },
    bench: { type: 'string' },
    json: { type: 'boolean', default: false },
    top: { type: 'string', default: '0' },
  },
});
if (positionals.length !== 1)
  throw new Error('usage: profile-summary.ts <file.cpuprofile> [--requests N --events M | --bench out.txt]');

/** The table's rows, in the order. */
const CATEGORIES = [
  'request parsing & validation',
  'token estimation',
  'routing (rules, load-aware decision, ledger)',
  'breaker / limiter / shared state',
  'held-back phase (open, up to first token)',
  'upstream call (dispatch, deadlines, delivery)',
  'SSE decoding',
  'chunk JSON parse',
  'relay framing & re-encoding',
  'metrics',
  'request record & store write',
  'request log line',
  'SLO event counting',
  'timers',
  'HTTP / socket I/O (any proxy pays)',
  'GC',
  'V8 / native (program)',
  'other',
  'startup (module loading; left out of the share)',
] as const;
type Category = (typeof CATEGORIES)[number];

/** Top-level declarations of our source files, by line: the enclosing function of a frame. */
const outline = new Map<string, { line: number; name: string }[]>();
function enclosing(url: string, line: number): string {
  let decls = outline.get(url);
  if (!decls) {
    decls = [];
    try {
      const lines = readFileSync(new URL(url), 'utf8').split('\n');
      lines.forEach((text, i) => {
        const m = /^(?:export )?(?:async )?(?:function\*? |class |const )(\w+)/.exec(text);
        if (m) decls?.push({ line: i, name: m[1] as string });
      });
    } catch {
      // a file that moved since the profile: file-level categories still apply
    }
    outline.set(url, decls);
  }
  let name = '';
  for (const d of decls) if (d.line <= line) name = d.name;
  return name;
}

function ourCategory(url: string, line: number): Category {
  const path = url.slice(url.indexOf('/src/') + 1);
  const top = enclosing(url, line);
  if (path === 'src/routing/tokens.ts') return 'token estimation';
  if (
    path.startsWith('src/routing/') ||
    path.startsWith('src/gateway/load/') ||
    path === 'src/gateway/route-request.ts'
  )
    return 'routing (rules, load-aware decision, ledger)';
  if (
    path.startsWith('src/state/') ||
    path === 'src/gateway/rate-limit.ts' ||
    path === 'src/gateway/failover.ts'
  )
    return 'breaker / limiter / shared state';
  if (
    path === 'src/gateway/validate.ts' ||
    path === 'src/gateway/http.ts' ||
    path === 'src/gateway/context.ts'
  )
    return 'request parsing & validation';
  if (path === 'src/gateway/server.ts')
    return top === 'settleUsage' ? 'breaker / limiter / shared state' : 'request parsing & validation';
  if (path === 'src/gateway/generate.ts') {
    if (top === 'openUpToFirstToken') return 'held-back phase (open, up to first token)';
    if (
      top === 'handleGenerate' ||
      top === 'upstreamBody' ||
      top === 'fleetHeaders' ||
      top === 'serverTiming'
    )
      return 'request parsing & validation';
    return 'relay framing & re-encoding';
  }
  if (path === 'src/upstream/sse.ts') return 'SSE decoding';
  if (path === 'src/upstream/stream-chunk.ts') return 'chunk JSON parse';
  if (path === 'src/upstream/call.ts')
    return top === 'Deadlines' ? 'timers' : 'upstream call (dispatch, deadlines, delivery)';
  if (path.startsWith('src/upstream/')) return 'upstream call (dispatch, deadlines, delivery)';
  if (path === 'src/gateway/metrics.ts') return 'metrics';
  if (path === 'src/gateway/trace.ts' || path.startsWith('src/measure/') || path.startsWith('src/store/'))
    return 'request record & store write';
  if (path.startsWith('src/cli/request-log') || path === 'src/cli/io.ts' || path === 'src/cli/serve.ts')
    return 'request log line';
  if (path.startsWith('src/slo/') || path.startsWith('src/probes/') || path === 'src/gateway/events.ts')
    return 'SLO event counting';
  return 'other';
}

const IO_URL =
  /^node:(_http_|http|net|stream|internal\/(streams|net|http|stream_base|js_stream|dns))|\/undici\/|^wasm:/;
const STARTUP_URL = /^node:internal\/(modules\/|deps\/amaro|bootstrap\/)/;
const OUR_URL = /\/src\/[^/]+\/.*\.ts$/;

function classify(stack: readonly CallFrame[]): Category {
  // stack[0] is the leaf.
  let sawIo = false;
  if (stack.some((f) => STARTUP_URL.test(f.url))) return 'startup (module loading; left out of the share)';
  for (const f of stack) {
    if (f.url.includes('/prom-client/')) return 'metrics';
    if (OUR_URL.test(f.url) && !f.url.includes('/node_modules/')) {
      const c = ourCategory(f.url, f.lineNumber);
      if (sawIo && c !== 'request record & store write' && c !== 'request log line' && c !== 'metrics')
        return 'HTTP / socket I/O (any proxy pays)';
      return c;
    }
    if (IO_URL.test(f.url)) sawIo = true;
    else if (f.url.startsWith('node:internal/timers') || f.url === 'node:timers')
      return sawIo ? 'HTTP / socket I/O (any proxy pays)' : 'timers';
  }
  if (sawIo) return 'HTTP / socket I/O (any proxy pays)';
  const leaf = stack[0];
  if (leaf?.functionName === '(garbage collector)') return 'GC';
  if (leaf?.functionName === '(program)') return 'V8 / native (program)';
  return 'other';
}

const profile = JSON.parse(readFileSync(positionals[0] as string, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const nodeCategory = new Map<number, Category>();
const selfUs = new Map<Category, number>(CATEGORIES.map((c) => [c, 0]));
const fnUs = new Map<string, number>();
let busyUs = 0;
let startupUs = 0;
const debugStacks = new Map<string, number>();
let idleUs = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i + 1] ?? 0; // a sample's time is the delta to the next one
  const node = byId.get(id) as ProfileNode;
  if (node.callFrame.functionName === '(idle)') {
    idleUs += dt;
    return;
  }
  let cat = nodeCategory.get(id);
  if (cat === undefined) {
    const stack: CallFrame[] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n))
      stack.push((byId.get(n) as ProfileNode).callFrame);
    cat = classify(stack);
    nodeCategory.set(id, cat);
  }
  if (cat === 'startup (module loading; left out of the share)') startupUs += dt;
  else busyUs += dt;
  if (process.env.PROFILE_SUMMARY_DEBUG === cat) {
    const chain: string[] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = (byId.get(n) as ProfileNode).callFrame;
      chain.push(`${f.functionName}@${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`);
    }
    debugStacks.set(chain.join(' < '), (debugStacks.get(chain.join(' < ')) ?? 0) + dt);
  }
  selfUs.set(cat, (selfUs.get(cat) ?? 0) + dt);
  const f = node.callFrame;
  const key = `${cat} ← ${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
  fnUs.set(key, (fnUs.get(key) ?? 0) + dt);
});

let requests = args.requests !== undefined ? Number(args.requests) : Number.NaN;
let events = args.events !== undefined ? Number(args.events) : Number.NaN;
if (args.bench) {
  const m = /through the gateway in all[^:]*: (\d+) requests, (\d+) token events/.exec(
    readFileSync(args.bench, 'utf8'),
  );
  if (!m) throw new Error(`${args.bench}: no "through the gateway in all" line`);
  requests = Number(m[1]);
  events = Number(m[2]);
}

const rows = CATEGORIES.map((c) => {
  const us = selfUs.get(c) ?? 0;
  return {
    category: c,
    cpuMs: us / 1000,
    share: busyUs > 0 && !c.startsWith('startup') ? us / busyUs : 0,
    usPerRequest: us / requests,
    usPerEvent: us / events,
  };
}).filter((r) => r.cpuMs > 0);
for (const [k, us] of [...debugStacks].sort((a, b) => b[1] - a[1]).slice(0, 15))
  console.log(`${(us / 1000).toFixed(0)} ms ${k}`);
if (args.json) {
  console.log(
    JSON.stringify({ busyMs: busyUs / 1000, idleMs: idleUs / 1000, requests, events, rows }, null, 2),
  );
} else {
  console.log(
    `gateway CPU ${(busyUs / 1000).toFixed(0)} ms busy (start-up ${(startupUs / 1000).toFixed(0)} ms more), ${(idleUs / 1000).toFixed(0)} ms idle; ` +
      `${requests} requests, ${events} token events (${(busyUs / requests).toFixed(0)} µs/request, ${(busyUs / events).toFixed(1)} µs/event all in)`,
  );
  const head = ['what', 'CPU ms', 'share', 'µs/request', 'µs/event'];
  const cells = rows.map((r) => [
    r.category,
    r.cpuMs.toFixed(0),
    `${(100 * r.share).toFixed(1)}%`,
    r.usPerRequest.toFixed(1),
    r.usPerEvent.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i] as number) : x.padStart(widths[i] as number))).join('  ');
  console.log(line(head));
  for (const c of cells) console.log(line(c));
  const top = Number(args.top);
  if (top > 0) {
    console.log(`\nheaviest ${top} functions (self time, with the category they were charged to):`);
    for (const [k, us] of [...fnUs].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
