// Routing: the seed's Request Routing Decision Matrix as pure functions (task + token estimate +
// context fit + health → ordered candidates with a reason), and token estimation.
export { selectEndpoint, routeToEndpoint, resolveTask, summarizeDecision } from './select.ts';
export type {
  RouteRequest,
  RouteDecision,
  Candidate,
  Skipped,
  EndpointHealth,
  DecisionSummary,
} from './select.ts';
export {
  estimateTextTokens,
  estimateChatTokens,
  estimatePromptTokens,
  estimateEmbeddingInputs,
  needsExactCount,
  decisiveThresholds,
  TOKEN_ESTIMATE_ERROR_BOUND,
  TOKEN_ESTIMATE_WORST_ERROR,
} from './tokens.ts';
export type { ExactTokenCounter, ChatMessageLike } from './tokens.ts';
export { refineTokenCount } from './refine.ts';
export type { TokenCount } from './refine.ts';
