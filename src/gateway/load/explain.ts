// GET /fleet/route?task=…&tokens=…[&max_tokens=…][&priority=…]: the decision this gateway would take
// for such a request now, against its live load, without sending anything (`llm-fleet route --gateway`).
import type { Priority } from '../../fleet/index.ts';
import {
  decideUnderLoad,
  score,
  selectEndpoint,
  summarizeDecision,
  BEYOND_THE_MATRIX,
} from '../../routing/index.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError } from '../http.ts';
import { candidatesUnderLoad } from './place.ts';

function count(params: URLSearchParams, name: string, required: boolean): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') {
    if (required) throw new HttpError(400, `query parameter '${name}' is required`, { param: name });
    return undefined;
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new HttpError(400, `'${name}' must be a whole number of tokens, got '${raw}'`, { param: name });
  return n;
}

export function explainRoute(ctx: GatewayContext, params: URLSearchParams): unknown {
  const task = params.get('task') ?? 'auto';
  const promptTokens = count(params, 'tokens', true) as number;
  const maxTokens = count(params, 'max_tokens', false);
  const p = params.get('priority') ?? 'interactive';
  if (p !== 'interactive' && p !== 'batch')
    throw new HttpError(400, `'priority' must be interactive or batch, got '${p}'`, { param: 'priority' });
  const priority: Priority = p;
  const health = ctx.routeByHealth ? ctx.health.states() : undefined;
  const matrix = selectEndpoint(ctx.fleet, { task, promptTokens, maxTokens, health });
  const kind = matrix.candidates[0]?.endpoint.kind ?? 'chat';
  const candidates = matrix.candidates.map((c) => c.endpoint).filter((e) => e.kind === kind);
  const settings = ctx.fleet.routing.load;
  const deps = {
    view: ctx.load.view,
    admission: ctx.load.admission,
    random: ctx.random,
    downNames: new Set(
      health ? candidates.filter((e) => health.get(e.name) === 'down').map((e) => e.name) : [],
    ),
    settings,
  };
  const beyond = new Set(
    matrix.candidates.filter((c) => c.reason === BEYOND_THE_MATRIX).map((c) => c.endpoint.name),
  );
  const loads = candidatesUnderLoad(deps, candidates, beyond, promptTokens);
  const policy = kind === 'chat' ? settings.policy : 'static';
  const decision = decideUnderLoad({
    policy,
    candidates: loads,
    priority,
    headroom: settings.headroom,
    batchHeadroom: settings.batchHeadroom,
    tieBreak: ctx.random(),
  });
  const margin = priority === 'batch' ? settings.batchHeadroom : settings.headroom;
  return {
    request: { task, promptTokens, maxTokens: maxTokens ?? null, priority },
    policy,
    matrix: summarizeDecision(matrix),
    candidates: loads.map((c) => {
      const s = score(c, margin);
      const load = ctx.load.view.load(
        candidates.find((e) => e.name === c.endpoint) as (typeof candidates)[number],
      );
      return {
        endpoint: c.endpoint,
        tier: c.tier,
        down: c.down,
        inFlight: c.inFlight,
        prefillWaitingTokens: load.prefillWaitingTokens,
        saturated: c.saturated,
        engineStale: load.engineStale,
        predictedP95Ms: Math.round(s.predictedP95Ms),
        predictedP99Ms: Math.round(s.predictedP99Ms),
        targetP95Ms: c.target?.p95Ms ?? null,
        targetP99Ms: c.target?.p99Ms ?? null,
        predictedDecodeTokensPerSecond:
          s.predictedDecodeTokensPerSecond === undefined
            ? null
            : Math.round(s.predictedDecodeTokensPerSecond),
        sustainedTokensPerSecond: s.sustainedTokensPerSecond ?? null,
        headroom: Math.round(s.headroom * 100) / 100,
        limiting: s.limiting,
      };
    }),
    decision:
      decision.action === 'dispatch'
        ? {
            action: 'dispatch',
            endpoint: decision.order[0] ?? null,
            order: decision.order,
            overflow: decision.overflow,
            reason: decision.reason,
          }
        : {
            action: settings.admission.mode === 'queue' ? 'queue' : 'shed',
            endpoint: null,
            reason: decision.reason,
          },
    admission: {
      mode: settings.admission.mode,
      queued: ctx.load.admission.length,
      maxQueue: settings.admission.maxQueue,
    },
  };
}
