// Shared gateway state: circuit breakers (one half-open probe fleet-wide), Retry-After pauses,
// concurrency slots and queue places per endpoint, per-key rate limits, probe leases and shared
// counters — one interface (SharedState) over an in-process, IPC or Redis backend, chosen at start.
export { CircuitBreaker, DEFAULT_BREAKER } from './circuit-breaker.ts';
export type { BreakerOptions, BreakerState, BreakerSnapshot } from './circuit-breaker.ts';
export { SharedState } from './shared-state.ts';
export type { Admission, BreakerView, SharedStateOptions, StateStatus } from './shared-state.ts';
export { MemoryBackend } from './memory-backend.ts';
export type * from './types.ts';
export { takeFromBucket, settleBucket, fullBucket } from './rate-bucket.ts';
export type { BucketState } from './rate-bucket.ts';
export { createSharedState, isRedisUrl } from './create.ts';
export type { CreateStateOptions } from './create.ts';
export { RedisBackend, describeRedisUrl } from './redis-backend.ts';
export { IpcBackend, serveStateOverIpc } from './ipc.ts';
export { SharedCounters } from './shared-counters.ts';
export type { SharedCountersOptions } from './shared-counters.ts';
