// Load-aware routing from the client's side, on the simulated example fleet: overflow when the
// preferred endpoint is full, admission (queue and shed), priorities, the explain endpoint, and
// that no request ever goes where the matrix forbids.
import { afterEach, describe, expect, it } from 'vitest';
import { selectEndpoint } from '../../src/routing/index.ts';
import { runCli } from '../cli/run-cli.ts';
import { startHarness, postJson, TEST_TIMEOUTS, type Harness } from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const ask = (
  harness: Harness,
  task: string,
  extra: { maxTokens?: number; headers?: Record<string, string>; content?: string } = {},
) =>
  postJson(
    harness.url,
    '/v1/chat/completions',
    {
      model: task,
      messages: [{ role: 'user', content: extra.content ?? `a ${task} question` }],
      max_tokens: extra.maxTokens ?? 150,
      ignore_eos: true,
    },
    extra.headers,
  );

/** Slow enough decoding (~4 ms a token) that requests overlap; fast first tokens. */
const latency = { scale: 0.2 };

function allowed(harness: Harness, task: string, promptTokens: number, maxTokens: number): string[] {
  return selectEndpoint(harness.fleet, { task, promptTokens, maxTokens }).candidates.map(
    (c) => c.endpoint.name,
  );
}

describe('overflow', () => {
  it('sends what the full preferred endpoint cannot take in time to the next candidate, and says why', async () => {
    h = await startHarness({
      latency,
      patch: (e) => (e.name === 'coder-fast' ? { maxConcurrency: 1 } : {}),
    });
    const answers = await Promise.all(
      [0, 1, 2, 3].map((i) => ask(h!, 'classification', { content: `q${i}` })),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    const where = answers.map((a) => a.headers.get('x-llm-fleet-endpoint'));
    expect(where.filter((w) => w === 'coder-fast')).toHaveLength(1);
    expect(where.filter((w) => w === 'coder')).toHaveLength(3);
    const overflowed = answers.find((a) => a.headers.get('x-llm-fleet-endpoint') === 'coder');
    expect(overflowed?.headers.get('x-llm-fleet-reason')).toMatch(
      /^load: overflow from coder-fast \(predicted P95 \d+ms of 800ms, decode \d+ tok\/s \(floor 60\), headroom -\d+% \(ttft-p9[59]\)\); coder predicted P95 \d+ms of 2000ms, decode \d+ tok\/s \(floor 80\), headroom \d+% \(\w[\w-]*\)/,
    );
    const allow = allowed(h, 'classification', 10, 150);
    for (const w of where) expect(allow).toContain(w);
  });

  it('static policy keeps the matrix order under the same burst (the control)', async () => {
    h = await startHarness({
      latency,
      load: { policy: 'static' },
      patch: (e) => (e.name === 'coder-fast' ? { maxConcurrency: 1 } : {}),
    });
    const answers = await Promise.all(
      [0, 1, 2, 3].map((i) => ask(h!, 'classification', { content: `q${i}` })),
    );
    expect(answers.map((a) => a.headers.get('x-llm-fleet-endpoint'))).toEqual([
      'coder-fast',
      'coder-fast',
      'coder-fast',
      'coder-fast',
    ]);
  });
});

describe('admission', () => {
  const full = { latency, patch: () => ({ maxConcurrency: 1 }) };

  it('sheds at once with 429 and Retry-After when no candidate has headroom (mode shed)', async () => {
    h = await startHarness({ ...full, load: { admission: { mode: 'shed', maxQueue: 16, ttlMs: 5_000 } } });
    const answers = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ask(h!, 'code', { content: `c${i}` })),
    );
    const shed = answers.filter((a) => a.status === 429);
    const served = answers.filter((a) => a.status === 200);
    expect(shed.length).toBeGreaterThanOrEqual(3);
    expect(served.length).toBeGreaterThanOrEqual(1);
    for (const a of shed) {
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((a.body.error as { code: string }).code).toBe('overloaded');
      expect(a.headers.get('x-llm-fleet-reason')).toMatch(
        /^load: shed \(interactive\): no candidate has headroom/,
      );
    }
    const allow = allowed(h, 'code', 10, 150);
    for (const a of served) expect(allow).toContain(a.headers.get('x-llm-fleet-endpoint'));
    // A shed request never reached an endpoint.
    const upstream = Object.keys(h.sims).reduce(
      (n, name) =>
        n + (h!.sims[name]?.groundTruth().filter((t) => t.path.includes('/completions')).length ?? 0),
      0,
    );
    expect(upstream).toBe(served.length);
  });

  it('queues in the gateway and sends each waiting request wherever capacity frees first (mode queue)', async () => {
    h = await startHarness({ ...full, load: { admission: { mode: 'queue', maxQueue: 16, ttlMs: 20_000 } } });
    const answers = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ask(h!, 'code', { content: `c${i}` })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const queued = answers.filter((a) =>
      /^load: queued \d+ms, then /.test(a.headers.get('x-llm-fleet-reason') ?? ''),
    );
    expect(queued.length).toBeGreaterThanOrEqual(3);
    const allow = allowed(h, 'code', 10, 150);
    for (const a of answers) expect(allow).toContain(a.headers.get('x-llm-fleet-endpoint'));
    // Late binding: the waiting requests did not all wait for the preferred endpoint.
    expect(new Set(queued.map((a) => a.headers.get('x-llm-fleet-endpoint'))).size).toBeGreaterThanOrEqual(2);
    // The queue's own figures: every request that said it was queued was admitted after a wait.
    const load = (await (await fetch(`${h.url}/fleet/load`)).json()) as {
      queue: { waiting: { interactive: number; batch: number }; admittedAfterWait: number };
    };
    expect(load.queue).toMatchObject({
      waiting: { interactive: 0, batch: 0 },
      admittedAfterWait: queued.length,
    });
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain(`llm_fleet_admission_admitted_after_wait_total ${queued.length}\n`);
  });

  it('sheds a queued request when its TTL passes', async () => {
    h = await startHarness({
      latency: { scale: 1 },
      patch: () => ({ maxConcurrency: 1 }),
      load: { admission: { mode: 'queue', maxQueue: 16, ttlMs: 150 } },
    });
    const answers = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => ask(h!, 'code', { content: `c${i}`, maxTokens: 60 })),
    );
    const shed = answers.filter((a) => a.status === 429);
    expect(shed.length).toBeGreaterThanOrEqual(1);
    expect(String((shed[0]?.body.error as { message: string }).message)).toContain(
      "waited 150 ms in the gateway's queue",
    );
    // Counted by reason in /fleet/load and /metrics (each 429 here is a TTL or a too-late shed).
    const load = (await (await fetch(`${h.url}/fleet/load`)).json()) as {
      queue: { shed: { queue_full: number; ttl: number; displaced: number; late: number } };
    };
    expect(load.queue.shed.ttl).toBeGreaterThanOrEqual(1);
    expect(load.queue.shed.ttl + load.queue.shed.late).toBe(shed.length);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toContain(`llm_fleet_admission_shed_total{reason="ttl"} ${load.queue.shed.ttl}\n`);
  });
  it('a queued request counts its wait in its TTFT: it is sent only where it can still answer in time', async () => {
    h = await startHarness({
      latency: { scale: 1 },
      patch: () => ({ maxConcurrency: 1 }),
      load: { admission: { mode: 'queue', maxQueue: 16, ttlMs: 20_000 } },
    });
    const answers = await Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ask(h!, 'code', { content: `c${i}`, maxTokens: 60 })),
    );
    const queued = answers
      .filter((a) => a.status === 200)
      .map((a) => a.headers.get('x-llm-fleet-reason') ?? '')
      .filter((r) => r.startsWith('load: queued'));
    expect(queued.length).toBeGreaterThanOrEqual(1);
    for (const reason of queued) {
      const waited = Number(/^load: queued (\d+)ms/.exec(reason)?.[1]);
      // The chosen endpoint's figures come last: its predicted P95 includes the wait, within its target.
      const [, predicted, target] = [...reason.matchAll(/predicted P95 (\d+)ms of (\d+)ms/g)].at(-1) ?? [];
      expect(Number(predicted)).toBeGreaterThanOrEqual(waited);
      expect(Number(predicted)).toBeLessThanOrEqual(Number(target));
    }
    // The rest waited only while some candidate could still answer in time (never the 20 s TTL).
    for (const a of answers.filter((x) => x.status === 429))
      expect(String((a.body.error as { message: string }).message)).toMatch(
        /waited \d+ ms in the gateway's queue( and no capacity freed in time for its TTFT target|; no candidate can answer within its TTFT target any more)/,
      );
  });
});

describe('priorities', () => {
  it('interactive traffic displaces queued batch traffic when the queue is full', async () => {
    h = await startHarness({
      latency,
      patch: () => ({ maxConcurrency: 1 }),
      load: { admission: { mode: 'queue', maxQueue: 1, ttlMs: 20_000 } },
    });
    // Occupy every chat endpoint with a TTFT target the code route may use (coder-fast, coder,
    // deepseek-r1; the simulated `small` has no target and is never an overflow target).
    const hold = [0, 1, 2].map((i) => ask(h!, 'code', { content: `hold${i}`, maxTokens: 250 }));
    await new Promise((r) => setTimeout(r, 60));
    const batch = ask(h, 'code', { content: 'batch', headers: { 'x-llm-fleet-priority': 'batch' } });
    await new Promise((r) => setTimeout(r, 60));
    const interactive = ask(h, 'code', { content: 'interactive' });
    const [b, i] = await Promise.all([batch, interactive]);
    await Promise.all(hold);
    expect(b.status).toBe(429);
    expect(String((b.body.error as { message: string }).message)).toContain(
      'shed to make room for interactive traffic',
    );
    expect(i.status).toBe(200);
  });

  it("the task can make traffic batch (the seed's async-preferred reasoning); a bad header is a 400", async () => {
    h = await startHarness({ load: { taskPriorities: { reasoning: 'batch' } } });
    const bad = await ask(h, 'code', { headers: { 'x-llm-fleet-priority': 'urgent' } });
    expect(bad.status).toBe(400);
    expect((bad.body.error as { param: string }).param).toBe('x-llm-fleet-priority');
    const r = await ask(h, 'reasoning', { maxTokens: 5 });
    expect(r.status).toBe(200);
    const route = (await (
      await fetch(`${h.url}/fleet/route?task=reasoning&tokens=500&priority=batch`)
    ).json()) as { decision: { action: string; endpoint: string }; request: { priority: string } };
    expect(route.request.priority).toBe('batch');
    expect(route.decision).toMatchObject({ action: 'dispatch', endpoint: 'deepseek-r1' });
  });
});

describe('the load view', () => {
  it('GET /fleet/load shows the ledger, the engine readings and the predictions; /metrics exports them', async () => {
    h = await startHarness({ latency, load: { scrapeIntervalMs: 50, staleAfterMs: 500 } });
    const pending = ask(h, 'classification', { maxTokens: 250 });
    await new Promise((r) => setTimeout(r, 250));
    const load = (await (await fetch(`${h.url}/fleet/load`)).json()) as {
      policy: string;
      endpoints: {
        name: string;
        inFlight: number;
        ledger: { inFlight: number; dispatched: number };
        engine: { stale: boolean; running: number | null } | null;
        prediction: { p95Ms: number; targetP95Ms: number };
      }[];
    };
    await pending;
    expect(load.policy).toBe('slo');
    const fast = load.endpoints.find((e) => e.name === 'coder-fast');
    expect(fast?.ledger).toMatchObject({ inFlight: 1, dispatched: 1 });
    expect(fast?.engine).toMatchObject({ stale: false, running: 1 });
    expect(fast?.prediction.targetP95Ms).toBe(800);
    // TEI and mlx_lm have no load metrics: no engine view at all, never an "idle" one.
    expect(load.endpoints.find((e) => e.name === 'embeddings')?.engine).toBeNull();
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/llm_fleet_load_ledger_in_flight\{endpoint="coder-fast"\} 0/);
    expect(metrics).toMatch(
      /llm_fleet_routing_decisions_total\{endpoint="coder-fast",decision="preferred"\} 1/,
    );
    expect(metrics).toMatch(
      /llm_fleet_load_predicted_ttft_seconds\{endpoint="coder",quantile="0.95"\} [\d.]+/,
    );
  });

  it("each attempt's record carries the TTFT predicted at its dispatch beside the TTFT that followed", async () => {
    h = await startHarness({ latency });
    for (const i of [0, 1, 2]) await ask(h, 'classification', { content: `p${i}`, maxTokens: 20 });
    const embed = await postJson(h.url, '/v1/embeddings', { model: 'embedding', input: ['a', 'b'] });
    expect(embed.status).toBe(200);
    const chat = h.records.filter((r) => r.operation === 'chat');
    expect(chat).toHaveLength(3);
    for (const r of chat) {
      const [a] = r.attempts;
      expect(a?.endpoint).toBe('coder-fast');
      // From the attempt's dispatch: never more than the request's own TTFT (which adds the gateway's part).
      expect(a?.ttftMs).toBeGreaterThan(0);
      expect(a?.ttftMs).toBeLessThanOrEqual((r.ttftMs ?? 0) + 0.1);
      expect(a?.predictedTtftP95Ms).toBeGreaterThan(0);
      expect(a?.predictedTtftP99Ms).toBeGreaterThanOrEqual(a?.predictedTtftP95Ms ?? Infinity);
    }
    // Embeddings have no TTFT prediction (their target is the whole batch).
    const e = h.records.find((r) => r.operation === 'embeddings');
    expect(e?.attempts[0]?.predictedTtftP95Ms).toBeUndefined();
  });

  it('each answered request teaches the decode-rate model of the endpoint that served it', async () => {
    h = await startHarness({ latency });
    const before = h.gateway.context.load.view.decodeModel('coder-fast');
    for (const i of [0, 1, 2, 3]) await ask(h, 'classification', { content: `d${i}`, maxTokens: 40 });
    const load = (await (await fetch(`${h.url}/fleet/load`)).json()) as {
      endpoints: {
        name: string;
        prediction: { decodeTokensPerSecond: number; sustainedTokensPerSecond: number };
        decodeModel: { source: string; observations: number };
        predictorError: { decodeSamples: number };
      }[];
    };
    const fast = load.endpoints.find((e) => e.name === 'coder-fast');
    expect(before?.observations).toBe(0);
    expect(fast?.decodeModel).toMatchObject({ source: 'fleet-file', observations: 4 });
    expect(fast?.predictorError.decodeSamples).toBe(4);
    expect(fast?.prediction.sustainedTokensPerSecond).toBe(60);
    // The prior (floor × safety margin: 120 tok/s) moved to what the records measured (the simulator
    // at latency scale 0.2 decodes ~5 × faster than its unscaled figures).
    const rates = h.records
      .filter((r) => r.endpoint === 'coder-fast')
      .map((r) => r.decodeTokensPerSecond as number)
      .sort((a, b) => a - b);
    expect(rates).toHaveLength(4);
    const measured = ((rates[1] as number) + (rates[2] as number)) / 2;
    const predicted = fast?.prediction.decodeTokensPerSecond as number;
    expect(measured).toBeGreaterThan(2 * 120);
    expect(predicted / measured).toBeGreaterThan(0.67);
    expect(predicted / measured).toBeLessThan(1.5);
  });

  it('a failed scrape is never an idle server: the endpoint is marked stale and judged by the ledger', async () => {
    h = await startHarness({ latency, load: { scrapeIntervalMs: 50, staleAfterMs: 200 } });
    await h.sims['coder-fast']?.close();
    await new Promise((r) => setTimeout(r, 300));
    const load = (await (await fetch(`${h.url}/fleet/load`)).json()) as {
      endpoints: {
        name: string;
        engine: { stale: boolean; consecutiveFailures: number; lastError: string | null };
      }[];
    };
    const fast = load.endpoints.find((e) => e.name === 'coder-fast');
    expect(fast?.engine.stale).toBe(true);
    expect(fast?.engine.consecutiveFailures).toBeGreaterThan(0);
    expect(fast?.engine.lastError).toBeTruthy();
  });

  it("`llm-fleet route --gateway` explains the decision against the running gateway's load", async () => {
    h = await startHarness({ latency, patch: (e) => (e.name === 'coder-fast' ? { maxConcurrency: 1 } : {}) });
    const idle = await runCli(['route', '--gateway', h.url, '--task', 'classification', '--tokens', '300'], {
      LLM_FLEET_LOOPBACK_ONLY: '1',
    });
    expect(idle.code).toBe(0);
    expect(idle.out).toMatch(/^coder-fast\n {2}policy {4}slo \(interactive\)/);
    expect(idle.out).toMatch(
      /reason {4}preferred, predicted P95 \d+ms of 800ms, decode \d+ tok\/s \(floor 60\), headroom \d+% \(\w[\w-]*\)/,
    );
    const busy = ask(h, 'classification', { maxTokens: 250 });
    await new Promise((r) => setTimeout(r, 100));
    const loaded = await runCli(
      ['route', '--gateway', h.url, '--task', 'classification', '--tokens', '300', '--json'],
      { LLM_FLEET_LOOPBACK_ONLY: '1' },
    );
    await busy;
    const e = JSON.parse(loaded.out) as {
      decision: { endpoint: string; reason: string };
      candidates: { endpoint: string; inFlight: number }[];
    };
    expect(e.decision.endpoint).toBe('coder');
    expect(e.decision.reason).toMatch(/^overflow from coder-fast/);
    expect(e.candidates.find((c) => c.endpoint === 'coder-fast')?.inFlight).toBe(1);
    const off = await runCli(
      ['route', '--gateway', 'http://192.168.86.201:8000', '--task', 'code', '--tokens', '10'],
      {
        LLM_FLEET_LOOPBACK_ONLY: '1',
      },
    );
    expect(off.code).toBe(2);
  });

  it('a busy endpoint is not a down one: a TTFT timeout while the engine reports queueing opens no breaker', async () => {
    h = await startHarness({
      latency,
      sim: {
        'coder-fast': {
          latency: { scale: 0.2, maxNumSeqs: 1, ttftJitterP99Ratio: 1.2, itlJitterP99Ratio: 1.2 },
        },
      },
      patch: (e) =>
        e.name === 'coder-fast' ? { fallbacks: [], timeouts: { ...TEST_TIMEOUTS, ttftTimeoutMs: 400 } } : {},
      load: { policy: 'static', scrapeIntervalMs: 40, staleAfterMs: 400 },
      deps: { breaker: { consecutiveFailures: 2 } },
    });
    const direct = (content: string, maxTokens: number) =>
      postJson(h!.url, '/v1/chat/completions', {
        model: 'coder-fast',
        messages: [{ role: 'user', content }],
        max_tokens: maxTokens,
        ignore_eos: true,
      });
    const a = direct('holds the only sequence', 300);
    await new Promise((r) => setTimeout(r, 120));
    // b waits inside the engine (dispatched before the engine reported a queue, its timeout may
    // count as a failure: one is below the breaker's threshold of two).
    const b = direct('waits behind it', 5);
    const load = async () =>
      (
        (await (await fetch(`${h!.url}/fleet/load`)).json()) as {
          endpoints: { name: string; engine: { waiting: number } }[];
        }
      ).endpoints.find((e) => e.name === 'coder-fast')?.engine.waiting;
    for (let i = 0; i < 50 && (await load()) !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    // c is dispatched while the engine reports a queue: its timeout is load.
    const c = direct('waits too', 5);
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    expect(ra.status).toBe(200);
    expect(rb.status).toBe(504);
    expect(rc.status).toBe(504);
    expect(h.gateway.context.breaker('coder-fast').snapshot(Date.now()).state).toBe('closed');
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/llm_fleet_saturation_total\{endpoint="coder-fast",cause="ttft_timeout"\} [12]/);
  });
});
