// The library face of llm-fleet: load a fleet file and route client-side, as the seed's
// select_llm_endpoint(task, token_count) does, with the same rules the gateway uses.
export {
  loadFleet,
  parseFleet,
  FleetValidationError,
  applyEnvironment,
  routableEndpoints,
  findEndpoint,
} from './fleet/index.ts';
export type {
  Fleet,
  Endpoint,
  EndpointSlo,
  RoutingRule,
  Task,
  EnvironmentName,
  FleetIssue,
} from './fleet/index.ts';
export {
  selectEndpoint,
  routeToEndpoint,
  resolveTask,
  estimateTextTokens,
  estimateChatTokens,
  estimateEmbeddingInputs,
  TOKEN_ESTIMATE_ERROR_BOUND,
} from './routing/index.ts';
export type { RouteDecision, RouteRequest, Candidate } from './routing/index.ts';
export { FleetError } from './errors.ts';

import type { Fleet } from './fleet/index.ts';
import { selectEndpoint } from './routing/index.ts';

/**
 * The seed's `select_llm_endpoint(task, token_count)`: the URL of the endpoint for a task and a
 * token count. Throws when no endpoint can take the request (the seed's function would return
 * one that cannot).
 */
export function selectLlmEndpoint(fleet: Fleet, task: string, tokenCount: number): string {
  const decision = selectEndpoint(fleet, { task, promptTokens: tokenCount });
  const url = decision.candidates[0]?.endpoint.url;
  if (url === undefined) throw new Error(decision.reason);
  return url;
}
