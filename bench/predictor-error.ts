// The TTFT predictor's error against recorded traffic: every attempt the gateway sent under
// load-aware routing carries the P95 and P99 it predicted at the load it was sent into, beside the
// TTFT that followed (both from the attempt's dispatch). Per endpoint: how many attempts came in
// under the predicted P95 (ideal 95%) and P99 (ideal 99%), and the median of observed / predicted
// P95 (under 1 when the predictor is pessimistic). Works on any store: the demo's, or a real fleet's.
// Run: node bench/predictor-error.ts --store <path|postgres://…> [-f fleet.yaml] [--since-min 60]
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadFleet } from '../src/fleet/index.ts';
import { openStore } from '../src/store/index.ts';
import { pct } from './support.ts';

const { values: args } = parseArgs({
  options: {
    store: { type: 'string' },
    fleet: { type: 'string', short: 'f' },
    'since-min': { type: 'string', default: '60' },
  },
});
if (!args.store) {
  process.stderr.write(
    'usage: node bench/predictor-error.ts --store <path|url> [-f fleet.yaml] [--since-min 60]\n',
  );
  process.exit(2);
}
const fleetPath = args.fleet ?? fileURLToPath(new URL('../examples/onex.fleet.yaml', import.meta.url));
const store = await openStore(args.store, { fleet: loadFleet(fleetPath, { env: {} }) });
const toMs = Date.now();
const fromMs = toMs - Number(args['since-min']) * 60_000;
const records = await store.records({ fromMs, toMs });
await store.close();

interface Tally {
  n: number;
  withinP95: number;
  withinP99: number;
  ratios: number[];
}
const byEndpoint = new Map<string, Tally>();
for (const r of records) {
  if (r.source !== 'gateway') continue;
  for (const a of r.attempts) {
    if (a.ttftMs === undefined || a.predictedTtftP95Ms === undefined || a.predictedTtftP99Ms === undefined)
      continue;
    const t = byEndpoint.get(a.endpoint) ?? { n: 0, withinP95: 0, withinP99: 0, ratios: [] };
    t.n += 1;
    if (a.ttftMs <= a.predictedTtftP95Ms) t.withinP95 += 1;
    if (a.ttftMs <= a.predictedTtftP99Ms) t.withinP99 += 1;
    t.ratios.push(a.ttftMs / a.predictedTtftP95Ms);
    byEndpoint.set(a.endpoint, t);
  }
}
const share = (k: number, n: number): string => `${((100 * k) / n).toFixed(1)}%`;
process.stdout.write(
  `TTFT predictor against recorded traffic: ${args.store}, last ${args['since-min']} min, ${records.length} records\n` +
    'endpoint      attempts  within-P95 (ideal 95%)  within-P99 (ideal 99%)  median observed/predicted-P95\n',
);
if (byEndpoint.size === 0)
  process.stdout.write('  no attempt carries a prediction (load-aware routing off, or recorded before it)\n');
for (const [endpoint, t] of [...byEndpoint].sort()) {
  process.stdout.write(
    `${endpoint.padEnd(12)}  ${String(t.n).padStart(8)}  ${share(t.withinP95, t.n).padStart(22)}  ${share(t.withinP99, t.n).padStart(22)}  ${pct(t.ratios, 0.5).toFixed(2).padStart(29)}\n`,
  );
}
