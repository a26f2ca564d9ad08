// Test harness: the example fleet's endpoints as simulated servers on loopback ports, a gateway in
// front of them (port 0), and the text one uninterrupted upstream would produce for a prompt.
import { fileURLToPath } from 'node:url';
import type { Endpoint, EndpointTimeouts, Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { buildGateway, type Gateway, type GatewayDeps } from '../../src/gateway/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import type { SimEndpointOptions, SimServer } from '../../src/sim/endpoint.ts';
import type { FaultSpec } from '../../src/sim/faults.ts';
import type { LatencyModel } from '../../src/sim/latency.ts';
import { expectedText, simAnswer } from '../../src/sim/generator.ts';
import { chatAnswerKey } from '../../src/sim/prompt.ts';
import { startEndpointSims } from '../support/sims.ts';

export const SEED = 7;
const FLEET_FILE = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));

/** Timeouts short enough for tests, long enough for two busy cores. */
export const TEST_TIMEOUTS: EndpointTimeouts = {
  connectTimeoutMs: 2_000,
  ttftTimeoutMs: 2_500,
  idleTimeoutMs: 1_500,
  totalTimeoutMs: 30_000,
};

export interface Harness {
  readonly fleet: Fleet;
  readonly sims: Readonly<Record<string, SimServer>>;
  readonly gateway: Gateway;
  readonly url: string;
  readonly records: RequestRecord[];
  setFaults(endpoint: string, faults: FaultSpec[]): void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly deps?: GatewayDeps;
  /** Changes to the gateway's view of each endpoint; `simUrls` by endpoint name (planned ones too). */
  readonly patch?: (e: Endpoint, simUrls: Readonly<Record<string, string>>) => Partial<Endpoint>;
  readonly faults?: Readonly<Record<string, FaultSpec[]>>;
  readonly gateway?: Partial<Fleet['gateway']>;
  /** Simulator latency on top of the harness's fast defaults. */
  readonly latency?: Partial<LatencyModel>;
  /** Per-endpoint simulator options (server version, reasoning parser, …). */
  readonly sim?: Readonly<Record<string, Partial<SimEndpointOptions>>>;
  /** routing.load settings on top of the fleet file's. */
  readonly load?: Partial<Fleet['routing']['load']>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const template = loadFleet(FLEET_FILE, { env: { LLM_SMALL_URL: 'http://127.0.0.1:1' } });
  const {
    sims,
    env,
    close: closeSims,
  } = await startEndpointSims(template.endpoints, {
    seed: SEED,
    latency: { scale: 0.02, ttftJitterP99Ratio: 1.2, itlJitterP99Ratio: 1.2, ...options.latency },
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.sim ? { sim: options.sim } : {}),
  });
  const loaded = loadFleet(FLEET_FILE, { env });
  const fleet: Fleet = {
    ...loaded,
    endpoints: loaded.endpoints.map((e) => ({
      ...e,
      timeouts: TEST_TIMEOUTS,
      ...options.patch?.(e, Object.fromEntries(Object.entries(sims).map(([n, s]) => [n, s.url]))),
    })),
    gateway: { ...loaded.gateway, ...options.gateway },
    routing: { ...loaded.routing, load: { ...loaded.routing.load, ...options.load } },
  };
  const records: RequestRecord[] = [];
  const gateway = buildGateway(fleet, {
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxWaitMs: 3_000 },
    onRecord: (r) => records.push(r),
    ...options.deps,
  });
  const url = await gateway.listen(0, '127.0.0.1');
  return {
    fleet,
    sims,
    gateway,
    url,
    records,
    setFaults: (endpoint, faults) => sims[endpoint]?.setFaults(faults),
    async close() {
      await gateway.close();
      await closeSims();
    },
  };
}

/** What an uninterrupted simulated upstream answers to these messages. */
export function expectedAnswer(
  messages: { role: string; content: string }[],
  options: { maxTokens: number; reasoning?: boolean; ignoreEos?: boolean },
): { reasoning: string; content: string } {
  const answer = simAnswer(SEED, chatAnswerKey(messages), options.reasoning ?? false);
  return expectedText(answer, {
    maxTokens: options.maxTokens,
    ignoreEos: options.ignoreEos ?? false,
    minTokens: 0,
  });
}

export interface StreamResult {
  readonly status: number;
  readonly headers: Headers;
  readonly content: string;
  readonly reasoning: string;
  readonly events: unknown[];
  readonly error?: { message: string; code?: string };
  readonly done: boolean;
  readonly usage?: { prompt_tokens: number; completion_tokens: number };
}

/** POST a streaming request and read the whole SSE answer as a client would. */
export async function streamChat(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<StreamResult> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ ...body, stream: true }),
  });
  const text = await res.text();
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    const parsed = JSON.parse(text) as { error?: { message: string; code?: string } };
    return {
      status: res.status,
      headers: res.headers,
      content: '',
      reasoning: '',
      events: [],
      error: parsed.error,
      done: false,
    };
  }
  let content = '';
  let reasoning = '';
  let done = false;
  let error: StreamResult['error'];
  let usage: StreamResult['usage'];
  const events: unknown[] = [];
  for (const block of text.split('\n\n')) {
    const line = block.split('\n').find((l) => l.startsWith('data:'));
    if (!line) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const ev = JSON.parse(data) as {
      error?: { message: string; code?: string };
      choices?: { delta?: { content?: string; reasoning_content?: string; reasoning?: string } }[];
      usage?: StreamResult['usage'];
    };
    events.push(ev);
    if (ev.error) error = ev.error;
    if (ev.usage) usage = ev.usage;
    for (const c of ev.choices ?? []) {
      content += c.delta?.content ?? '';
      reasoning += c.delta?.reasoning_content ?? c.delta?.reasoning ?? '';
    }
  }
  return { status: res.status, headers: res.headers, content, reasoning, events, error, done, usage };
}

export async function postJson(
  url: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** Inference requests an endpoint's simulator saw (ground truth). */
export function seen(h: Harness, endpoint: string): number {
  return (
    h.sims[endpoint]
      ?.groundTruth()
      .filter((t) => t.path.includes('/completions') || t.path.includes('embeddings')).length ?? 0
  );
}
