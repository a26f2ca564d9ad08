// From a request to the router's ordered candidates: `model` may be a route (`auto`, a task or an
// alias), an endpoint name or a served model id; the `x-llm-fleet-task` header picks the task when
// the model is a route. A request that fits nowhere is refused here, before anything goes upstream.
import { servesModel, type Endpoint, type Fleet, type Priority } from '../fleet/index.ts';
import {
  BEYOND_THE_MATRIX,
  resolveTask,
  routeToEndpoint,
  selectEndpoint,
  type RouteDecision,
} from '../routing/index.ts';
import type { GatewayContext } from './context.ts';
import { HttpError } from './http.ts';
import { placeRequest, PRIORITY_HEADER, type Placement } from './load/place.ts';
import type { RequestTrace } from './trace.ts';

export const TASK_HEADER = 'x-llm-fleet-task';
export const ROUTE_NAMES = [
  'auto',
  'code',
  'classification',
  'embedding',
  'reasoning',
  'lightweight',
] as const;

export interface RoutedRequest {
  readonly decision: RouteDecision;
  readonly candidates: readonly Endpoint[];
  /** What the client asked for (`auto`, a task, an endpoint or a model id). */
  readonly route: string;
  readonly task?: string;
  readonly promptTokens: number;
  readonly maxTokens?: number;
  /** The client named an endpoint or model: load does not move it (its fallbacks stay for failures). */
  readonly pinned: boolean;
  /** Set once placed under load: why the first candidate (overflow, prediction, headroom). */
  readonly placement?: Placement;
}

/** The request's priority: the header, else its API key's, else its task's, else interactive. */
export function priorityOf(
  fleet: Fleet,
  header: string | undefined,
  apiKey: string | undefined,
  task: string | undefined,
): Priority {
  const h = header?.trim().toLowerCase();
  if (h !== undefined && h !== '') {
    if (h === 'interactive' || h === 'batch') return h;
    throw new HttpError(400, `${PRIORITY_HEADER} must be interactive or batch, got '${header}'`, {
      param: PRIORITY_HEADER,
      code: 'invalid_priority',
    });
  }
  const load = fleet.routing.load;
  if (apiKey !== undefined && load.keyPriorities[apiKey]) return load.keyPriorities[apiKey];
  const t = resolveTask(fleet, task);
  return (t && load.taskPriorities[t]) || 'interactive';
}

/**
 * Place a routed request under load: the matrix's candidates re-ordered by the load-aware decision,
 * or held in the admission queue, or shed (throws 429). Embeddings keep the matrix's order (their
 * latency target is a whole batch, not a first token), and so does a request that names an endpoint
 * or model (a pin: its fallbacks are for failures, not load); both are counted in the ledger all the same.
 */
export async function placeUnderLoad(
  ctx: GatewayContext,
  trace: RequestTrace,
  routed: RoutedRequest,
  kind: Endpoint['kind'],
  signal: AbortSignal,
): Promise<RoutedRequest> {
  const beyond = new Set(
    routed.decision.candidates.filter((c) => c.reason === BEYOND_THE_MATRIX).map((c) => c.endpoint.name),
  );
  const down = new Set(
    ctx.routeByHealth
      ? routed.candidates.filter((e) => ctx.health.state(e.name) === 'down').map((e) => e.name)
      : [],
  );
  const settings =
    kind === 'chat' && !routed.pinned
      ? ctx.fleet.routing.load
      : { ...ctx.fleet.routing.load, policy: 'static' as const };
  const placement = await placeRequest(
    {
      view: ctx.load.view,
      admission: ctx.load.admission,
      random: ctx.random,
      downNames: down,
      settings,
      onDecision: (endpoint, decision) => ctx.load.metrics.decision(endpoint, decision),
    },
    {
      candidates: routed.candidates,
      beyond,
      promptTokens: routed.promptTokens,
      maxTokens: routed.maxTokens,
      priority: trace.priority,
      signal,
    },
  );
  trace.loadDispatch = placement.dispatch;
  return { ...routed, candidates: placement.candidates, placement };
}

export function routeRequest(
  ctx: GatewayContext,
  args: {
    model: string | undefined;
    headerTask: string | undefined;
    kind: Endpoint['kind'];
    promptTokens: number;
    maxTokens?: number;
  },
): RoutedRequest {
  const { fleet } = ctx;
  const model = args.model?.trim() || 'auto';
  const health = ctx.routeByHealth ? ctx.health.states() : undefined;
  const isRoute = model === 'auto' || resolveTask(fleet, model) !== undefined;
  let decision: RouteDecision;
  let route = model;
  let task: string | undefined;
  if (isRoute) {
    task =
      args.headerTask?.trim() ||
      (model === 'auto' ? (args.kind === 'embeddings' ? 'embedding' : 'auto') : model);
    if (args.headerTask && resolveTask(fleet, args.headerTask) === undefined && args.headerTask !== 'auto') {
      throw new HttpError(400, `unknown task '${args.headerTask}' in ${TASK_HEADER}`, {
        param: TASK_HEADER,
        code: 'invalid_task',
      });
    }
    decision = selectEndpoint(fleet, {
      task,
      promptTokens: args.promptTokens,
      maxTokens: args.maxTokens,
      health,
    });
    if (args.headerTask) route = `${model}+${task}`;
  } else {
    decision = routeToEndpoint(fleet, model, {
      promptTokens: args.promptTokens,
      maxTokens: args.maxTokens,
      health,
    });
    const named =
      decision.candidates[0]?.endpoint ??
      fleet.endpoints.find((e) => e.name === model || servesModel(e, model) || e.model === model);
    if (
      !named &&
      decision.candidates.length === 0 &&
      !decision.skipped.some((s) => s.why.includes('does not fit'))
    ) {
      throw new HttpError(404, `${decision.reason}; GET /v1/models lists the models and routes`, {
        param: 'model',
        code: 'model_not_found',
      });
    }
  }
  const candidates = decision.candidates.map((c) => c.endpoint).filter((e) => e.kind === args.kind);
  if (candidates.length === 0) {
    const tooBig = decision.skipped.some((s) => s.why.includes('does not fit'));
    const wrongKind = decision.candidates.length > 0;
    // The prompt alone fits somewhere but not with max_tokens on top: max_tokens is the field to fix.
    const promptFits = decision.skipped.some((s) => {
      const e = fleet.endpoints.find((x) => x.name === s.endpoint);
      return e?.contextWindowTokens !== undefined && args.promptTokens < e.contextWindowTokens;
    });
    const param = !tooBig ? 'model' : args.maxTokens !== undefined && promptFits ? 'max_tokens' : 'messages';
    throw new HttpError(
      400,
      wrongKind
        ? `'${model}' serves ${decision.candidates[0]?.endpoint.kind}, not ${args.kind}`
        : `${decision.reason}${tooBig ? (param === 'max_tokens' ? '; lower max_tokens' : '; shorten the prompt or lower max_tokens') : ''}`,
      { param, code: tooBig ? 'context_length_exceeded' : 'no_endpoint' },
    );
  }
  return {
    pinned: !isRoute,
    decision,
    candidates,
    route,
    task: decision.task === 'default' ? task : decision.task,
    promptTokens: args.promptTokens,
    maxTokens: args.maxTokens,
  };
}
