// HTTP to the fleet's endpoints: keep-alive pools behind the loopback guard, SSE decoding, the
// meaning of each dialect's chunks and error bodies, and attempts with named timeouts.
export {
  guardedConnector,
  assertOutboundAllowed,
  loopbackOnly,
  isLoopbackHost,
  LoopbackOnlyError,
} from './guard.ts';
export { upstreamAuthHeaders } from './auth.ts';
export { SseDecoder } from './sse.ts';
export type { SseEvent } from './sse.ts';
export { UpstreamPools } from './pools.ts';
export type { EndpointTarget } from './pools.ts';
export { openStream, callJson, UpstreamFailureError } from './call.ts';
export type { CallOptions, StreamCall, StreamEvent, JsonCallResult } from './call.ts';
export { parseStreamChunk } from './stream-chunk.ts';
export type { StreamChunk, UsageCounts } from './stream-chunk.ts';
export {
  classifyHttpError,
  classifyNetworkError,
  parseRetryAfterMs,
  upstreamMessage,
  isRecoverable,
  isTransient,
  countsAgainstEndpoint,
  openAiErrorType,
} from './upstream-error.ts';
export type { FailureCause, UpstreamFailure } from './upstream-error.ts';
