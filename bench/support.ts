// What the gateway benches share: the simulated vLLM endpoint they start, waiting for a server to
// answer /health, draining the simulator's ground truth, CPU time from /proc, and the percentile
// the figures are printed with. One copy, so the benches measure alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';

/**
 * `llm-fleet sim` arguments for the benches' vLLM endpoint: a fixed 20 ms prefill, no tail
 * (p99 ratio 1) and a concurrency cap that never binds, so what varies is the path in front of it.
 */
export function benchSimArgv(port: number, decodeTps: number | string): string[] {
  return [
    'sim',
    '--dialect',
    'vllm',
    '--model',
    'bench-model',
    '--port',
    String(port),
    '--context',
    '32768',
    '--prefill-overhead-ms',
    '20',
    '--prefill-ms-per-token',
    '0',
    '--ttft-p99-ratio',
    '1',
    '--decode-tps',
    String(decodeTps),
    '--max-num-seqs',
    '4096',
  ];
}

/**
 * Writes `bench.fleet.yaml` in `dir`: one endpoint `bench` (the sim on `simPort`) with limits that
 * never bind, everything routed to it; `gatewayYaml` is appended (e.g. a `gateway:` section).
 */
export function writeBenchFleet(dir: string, name: string, simPort: number, gatewayYaml = ''): string {
  const fleetFile = join(dir, 'bench.fleet.yaml');
  writeFileSync(
    fleetFile,
    `version: 1
name: ${name}
hosts:
  local: { address: 127.0.0.1, description: loopback, hardware: none }
endpoints:
  bench:
    env: LLM_BENCH_URL
    host: local
    port: ${simPort}
    model: bench-model
    dialect: vllm
    context: 32K
    maxConcurrency: 4096
    maxQueue: 4096
    timeouts: { ttft: 60s, idle: 60s, total: 10m }
    slo:
      ttft: { p95: 1000ms, p99: 2000ms }
routing:
  rules:
    - { task: code, endpoint: bench }
  default: bench
${gatewayYaml}`,
  );
  return fleetFile;
}

/** Polls `${url}/health` every 100 ms until it answers 200; throws after 30 s. */
export async function waitReady(url: string, dispatcher: Dispatcher): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await request(`${url}/health`, { dispatcher });
      await r.body.dump();
      if (r.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** One request as the simulator recorded it (GET /admin/truth). */
export interface SimTruth {
  readonly clientRequestId?: string;
  readonly arrivalMs: number;
  readonly ttftMs?: number;
}

/** The simulator's ground truth since the last call, keyed by x-request-id; the record is cleared. */
export async function drainTruth(simUrl: string, dispatcher: Dispatcher): Promise<Map<string, SimTruth>> {
  const r = await request(`${simUrl}/admin/truth`, { dispatcher });
  const list = (await r.body.json()) as SimTruth[] | { requests: SimTruth[] };
  const items = Array.isArray(list) ? list : list.requests;
  const del = await request(`${simUrl}/admin/truth`, { method: 'DELETE', dispatcher });
  await del.body.dump();
  return new Map(items.filter((t) => t.clientRequestId).map((t) => [t.clientRequestId as string, t]));
}

/** The q-quantile (0..1) by nearest rank; NaN for no values. */
export function pct(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0
    ? Number.NaN
    : (s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number);
}

const TICK_US = 1e6 / 100; // USER_HZ: /proc times are in 1/100 s on Linux.

/** User + system CPU of a process and its running children (--workers) so far, in µs; 0 for no pid. */
export function cpuUs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    // no children file on this kernel: the process alone
  }
  return (Number(fields[11]) + Number(fields[12])) * TICK_US + children.reduce((sum, c) => sum + cpuUs(c), 0);
}
