// Probes and the shared health state: dialect-aware health checks, real request probes, observed
// fingerprints, the debounced up/down state machine and the monitor that runs them on an interval.
export type * from './types.ts';
export { createHealthState } from './state.ts';
export type { HealthStateMachine, HealthStateOptions } from './state.ts';
export { checkHealth, judgeHealth, healthUrl, createProbeDispatcher, causeOfError } from './health.ts';
export type { CheckOptions } from './health.ts';
export {
  probeRequest,
  judgeChatAnswer,
  probeMaxTokens,
  REASONING_PROBE_MAX_TOKENS,
  CHAT_PROBE_MAX_TOKENS,
} from './request-probe.ts';
export type { RequestProbeOptions } from './request-probe.ts';
export { observeFingerprint } from './fingerprint.ts';
export type { FingerprintOptions } from './fingerprint.ts';
export { monitorMetrics } from './metrics.ts';
export type { MonitorMetrics } from './metrics.ts';
export {
  startMonitor,
  createHealthStateFromStore,
  DEFAULT_REQUEST_PROBE_EVERY,
  DEFAULT_FINGERPRINT_EVERY,
  REQUEST_PROBE_MAX_MS,
} from './monitor.ts';
export type { Monitor, MonitorOptions } from './monitor.ts';
