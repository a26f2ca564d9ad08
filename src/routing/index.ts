// Routing: the seed's Request Routing Decision Matrix as pure functions (task + token estimate +
// context fit + health → ordered candidates with a reason), and token estimation.
export {
  selectEndpoint,
  routeToEndpoint,
  resolveTask,
  summarizeDecision,
  BEYOND_THE_MATRIX,
} from './select.ts';
export { decideUnderLoad, score, describe, NEAR_EQUAL } from './load-aware.ts';
export type {
  LoadCandidate,
  LoadDecision,
  LoadDecisionInput,
  Scored,
  DecodeFloors,
  Limiting,
} from './load-aware.ts';
export {
  predictDecode,
  priorDecodeModel,
  updateDecodeModel,
  PRIOR_DECODE_SIGMA,
  PRIOR_DECODE_SLOWDOWN_PER_SEQUENCE,
} from './decode.ts';
export type { DecodeModel, DecodePrediction, DecodeObservation } from './decode.ts';
export {
  predictTtft,
  priorTtftModel,
  updateTtftModel,
  idleMedianMs,
  PRIOR_SIGMA,
  PRIOR_OVERHEAD_SHARE,
  PRIOR_SLOWDOWN_PER_SEQUENCE,
} from './predict.ts';
export type {
  TtftModel,
  LoadFigures,
  TtftPrediction,
  TtftObservation,
  CalibrationFigures,
} from './predict.ts';
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
export { pickReplica, prefixKey, loadBound } from './replicas.ts';
export type { ReplicaLoad, ReplicaChoice, ReplicaReason, ReplicaPickOptions } from './replicas.ts';
