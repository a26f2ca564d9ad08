// The aggregate embeddings/s the demo can show: the example fleet's simulated TEI behind the gateway
// in one process (as `npm start` runs them), rounds of concurrent batches of 32 base64 texts at each
// concurrency. Per level: the gateway's aggregate (Σ inputs / Σ busyMs of its records — what `check`
// judges), the simulator's own rate over its busy time (ground truth: arrival to last write), the
// latency model's capacity when a round merges into one TEI batch (the ceiling), and the per-request
// rate P50 (the old judging).
// Baseline measured in the same run: the same rounds straight to the simulator (no gateway), busy time
// from the client's send to last byte. The load average is printed beside every figure.
// --pause-ms spaces the rounds out as the demo's traffic does (a burst every few seconds) instead of
// back to back.
// Run: node bench/embeddings-rate.ts [--levels 1,4,8,16] [--rounds 40] [--pause-ms 0]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadFleet } from '../src/fleet/index.ts';
import { buildGateway } from '../src/gateway/index.ts';
import { BusyUnion } from '../src/measure/busy-union.ts';
import type { RequestRecord } from '../src/measure/record.ts';
import { embeddingBatchMedianMs, latencyForEndpoint, latencyModel, startSimFleet } from '../src/sim/index.ts';
import { pct } from './support.ts';

const { values: args } = parseArgs({
  options: {
    levels: { type: 'string', default: '1,4,8,16' },
    rounds: { type: 'string', default: '40' },
    'pause-ms': { type: 'string', default: '0' },
  },
});
const levels = args.levels.split(',').map(Number);
const rounds = Number(args.rounds);
const pauseMs = Number(args['pause-ms']);
const BATCH = 32;
const FLEET = fileURLToPath(new URL('../examples/onex.fleet.yaml', import.meta.url));

const sims = await startSimFleet(loadFleet(FLEET, { env: {} }), { only: ['embeddings'] });
const records: RequestRecord[] = [];
const gateway = buildGateway(sims.fleet, {
  env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
  onRecord: (r) => records.push(r),
});
const gatewayUrl = await gateway.listen(0, '127.0.0.1');
const sim = sims.endpoints.get('embeddings');
if (!sim) throw new Error('no embeddings simulator');
const endpoint = sims.fleet.endpoints.find((e) => e.name === 'embeddings');
if (!endpoint) throw new Error('no embeddings endpoint');
const floor = endpoint.slo.throughput.embeddingsPerSecond;
const model = latencyModel(latencyForEndpoint(endpoint));

async function embed(url: string, tag: string): Promise<[number, number]> {
  const start = performance.now();
  const res = await fetch(`${url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'embedding',
      encoding_format: 'base64',
      input: Array.from({ length: BATCH }, (_, i) => `doc ${tag}.${i}`),
    }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return [start, performance.now()];
}

/** Rounds of `concurrency` batches; the client's busy union over them. */
async function run(url: string, concurrency: number, label: string): Promise<number> {
  const union = new BusyUnion(Infinity);
  for (let r = 0; r < rounds; r++) {
    const spans = await Promise.all(
      Array.from({ length: concurrency }, (_, k) => embed(url, `${label}.${concurrency}.${r}.${k}`)),
    );
    for (const [s, e] of spans) union.add(s, e);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  return (rounds * concurrency * BATCH * 1000) / union.coveredMs;
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const rate = (v: number): string => `${Math.round(v)}/s`.padStart(8);
process.stdout.write(
  `embeddings/s through the gateway, example fleet's simulated TEI (floor ${floor}/s), ${rounds} rounds per level${pauseMs > 0 ? ` ${pauseMs} ms apart` : ''}, batches of ${BATCH} base64\n` +
    'conc  gateway-aggregate  sim-truth  sim-model-ceiling  per-request-P50  direct-to-sim  gateway/direct  load(1,5,15)\n',
);
for (const concurrency of levels) {
  await run(gatewayUrl, concurrency, 'warm');
  records.length = 0;
  sim.clearGroundTruth();
  await run(gatewayUrl, concurrency, 'gw');
  const counted = records.filter((r) => r.outcome === 'ok' && (r.inputCount ?? 0) >= BATCH);
  const gatewayRate =
    (counted.reduce((n, r) => n + (r.inputCount ?? 0), 0) * 1000) /
    counted.reduce((n, r) => n + (r.busyMs ?? 0), 0);
  const truth = sim.groundTruth().filter((t) => (t.inputs ?? 0) >= BATCH);
  const serverBusy = new BusyUnion(Infinity);
  for (const t of truth) serverBusy.add(t.arrivalMs, t.endAtMs ?? t.arrivalMs);
  const inputs = truth.reduce((n, t) => n + (t.inputs ?? 0), 0);
  // The latency model's median compute when TEI merges the round into one batch: the simulated
  // server's capacity at this concurrency, before any of this process's CPU.
  const ceiling = (concurrency * BATCH * 1000) / embeddingBatchMedianMs(model, concurrency * BATCH);
  const perRequest = counted.map((r) => ((r.inputCount ?? 0) * 1000) / (r.ttftMs ?? Infinity));
  const direct = await run(sim.url, concurrency, 'direct');
  process.stdout.write(
    `${String(concurrency).padStart(4)}  ${rate(gatewayRate).padStart(17)}  ${rate((inputs * 1000) / serverBusy.coveredMs).padStart(9)}  ${rate(ceiling).padStart(17)}  ${rate(pct(perRequest, 0.5)).padStart(15)}  ${rate(direct).padStart(13)}  ${(gatewayRate / direct).toFixed(2).padStart(14)}  ${load()}\n`,
  );
}
await gateway.close();
await sims.close();
