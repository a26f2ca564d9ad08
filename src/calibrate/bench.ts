// `bench` as a function: runs the steps (closed loop, a concurrency sweep or open loop) against one
// endpoint or through the gateway, and summarizes each. The CLI only parses flags and prints.
import { upstreamAuthHeaders } from '../upstream/auth.ts';
import type { Endpoint } from '../fleet/index.ts';
import { DEFINITIONS } from '../measure/index.ts';
import type { Objective } from '../slo/objectives.ts';
import { endpointObjectives } from '../slo/objectives.ts';
import { arrivalOffsetsMs } from './arrivals.ts';
import type { BenchStep } from './bench-summary.ts';
import { summarizeStep } from './bench-summary.ts';
import { httpTarget } from './http.ts';
import type { BenchRequestOptions, BenchSample } from './load.ts';
import { benchRequest, closedLoop, openLoop } from './load.ts';
import { idSource } from './workload.ts';

export type LoadPlan =
  | { readonly mode: 'closed'; readonly levels: readonly number[] }
  | {
      readonly mode: 'open';
      readonly ratePerSecond: number;
      readonly burstiness: number;
      readonly seed: number;
    };

export interface BenchOptions {
  readonly endpoint: Endpoint;
  /** Base URL requests go to: the endpoint's own, or the gateway's. */
  readonly url: string;
  readonly viaGateway: boolean;
  readonly model: string;
  readonly plan: LoadPlan;
  readonly requestsPerStep: number;
  readonly warmupRequests: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly batchSize: number;
  readonly timeoutMs: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly runId?: string;
  readonly onStep?: (step: BenchStep) => void;
}

/** A step's summary plus every request of it (one RequestRecord each, with the generator's timing). */
export interface BenchStepWithSamples extends BenchStep {
  readonly samples: readonly BenchSample[];
}

export interface BenchRun {
  readonly id: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly endpoint: string;
  readonly target: string;
  readonly viaGateway: boolean;
  readonly model: string;
  readonly plan: LoadPlan;
  readonly requestsPerStep: number;
  readonly objectives: readonly Objective[];
  readonly definitions: typeof DEFINITIONS;
  readonly steps: readonly BenchStepWithSamples[];
}

export async function runBench(o: BenchOptions): Promise<BenchRun> {
  const startedAt = new Date().toISOString();
  const runId = o.runId ?? `bench-${Date.now().toString(36)}`;
  const objectives = endpointObjectives(o.endpoint);
  const maxConcurrency = o.plan.mode === 'closed' ? Math.max(...o.plan.levels) : undefined;
  const target = httpTarget(o.url, {
    env: o.env,
    connections: maxConcurrency ?? undefined,
    // The endpoint's own key when benching it directly (a gateway in front has its own keys).
    headers: o.url === o.endpoint.url ? upstreamAuthHeaders(o.endpoint) : {},
  });
  const nextId = idSource(runId);
  const req: BenchRequestOptions = {
    endpoint: o.endpoint,
    model: o.model,
    promptTokens: o.promptTokens,
    maxTokens: o.maxTokens,
    batchSize: o.batchSize,
    timeoutMs: o.timeoutMs,
    viaGateway: o.viaGateway,
  };
  const send = (id: string) => benchRequest(target, req, id);
  const steps: BenchStepWithSamples[] = [];
  try {
    // Warm-up: connections open, caches of the server's own (not prefix: prompts stay unique) warm.
    if (o.warmupRequests > 0) await closedLoop(send, maxConcurrency ?? 1, o.warmupRequests, nextId);
    if (o.plan.mode === 'closed') {
      for (const c of o.plan.levels) {
        const run = await closedLoop(send, c, o.requestsPerStep, nextId);
        const step = summarizeStep(run, objectives, {
          label: `concurrency ${c}`,
          mode: 'closed',
          concurrency: c,
        });
        steps.push({ ...step, samples: run.samples });
        o.onStep?.(step);
      }
    } else {
      const { ratePerSecond, burstiness, seed } = o.plan;
      const run = await openLoop(
        send,
        arrivalOffsetsMs(o.requestsPerStep, ratePerSecond, burstiness, seed),
        nextId,
      );
      const step = summarizeStep(run, objectives, {
        label: `rate ${ratePerSecond}/s${burstiness === 1 ? ' poisson' : ` gamma(${burstiness})`}`,
        mode: 'open',
        ratePerSecond,
        burstiness,
      });
      steps.push({ ...step, samples: run.samples });
      o.onStep?.(step);
    }
  } finally {
    await target.close().catch(() => undefined);
  }
  return {
    id: runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    endpoint: o.endpoint.name,
    target: o.url,
    viaGateway: o.viaGateway,
    model: o.model,
    plan: o.plan,
    requestsPerStep: o.requestsPerStep,
    objectives,
    definitions: DEFINITIONS,
    steps,
  };
}
