// The simulator: loopback servers that speak vLLM, mlx_lm, llama.cpp and TEI exactly as
// wire-formats.md describes, with a latency model whose percentiles are known in closed form, a
// fault model, deterministic output (so a fallback can continue a cut answer) and ground truth.
export { startSimEndpoint, INFERENCE_PATHS } from './endpoint.ts';
export type { SimEndpointOptions, SimServer } from './endpoint.ts';
export { startSimFleet, latencyForEndpoint, engineForEndpoint, simEndpointOptions } from './fleet.ts';
export { BatchEngine } from './engine/batch-engine.ts';
export type { EngineCost, EngineJob, EngineLimits, EngineLoad, EngineTicket } from './engine/batch-engine.ts';
export { VirtualClock } from './engine/engine-clock.ts';
export type { EngineClock } from './engine/engine-clock.ts';
export { engineCost, engineLimits } from './engine/engine-config.ts';
export type { EngineSettings } from './engine/engine-config.ts';
export type { SimFleet, SimFleetOptions } from './fleet.ts';
export type { FaultKind, FaultSpec } from './faults.ts';
export { FAULT_KINDS, parseFault, parseFaults, formatFault, FaultSyntaxError } from './faults.ts';
export type { LatencyModel } from './latency.ts';
export {
  DEFAULT_LATENCY,
  latencyModel,
  ttftQuantileMs,
  ttftMedianMs,
  embeddingBatchMedianMs,
  meanItlMs,
  normalQuantile,
  sigmaForP99Ratio,
} from './latency.ts';
export type { SimRequestTruth } from './truth.ts';
export { simAnswer, planOutput, expectedText } from './generator.ts';
export type { SimAnswer, OutputPlan, OutputPlanOptions } from './generator.ts';
export { expectedCompletion, expectedCompletionTokens } from './expected.ts';
export type { ExpectedCompletionRequest } from './expected.ts';
export { simTokenize, countSimTokens, simTokenId } from './tokenizer.ts';
export { renderChatPrompt, chatPromptTokens, chatAnswerKey } from './prompt.ts';
export type { SimChatMessage } from './prompt.ts';
export { simEmbedding } from './embeddings-handler.ts';
export { DEFAULT_VERSIONS } from './version.ts';
