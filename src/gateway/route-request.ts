// From a request to the router's ordered candidates: `model` may be a route (`auto`, a task or an
// alias), an endpoint name or a served model id; the `x-llm-fleet-task` header picks the task when
// the model is a route. A request that fits nowhere is refused here, before anything goes upstream.
import { servesModel, type Endpoint } from '../fleet/index.ts';
import { resolveTask, routeToEndpoint, selectEndpoint, type RouteDecision } from '../routing/index.ts';
import type { GatewayContext } from './context.ts';
import { HttpError } from './http.ts';

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
  return { decision, candidates, route, task: decision.task === 'default' ? task : decision.task };
}
