// The gateway: one OpenAI-compatible URL in front of the fleet. Routes each request by task and
// token count, fails over before the first token, rescues or explicitly fails streams after it,
// and writes one RequestRecord per request plus Prometheus metrics.
export { buildGateway } from './server.ts';
export type { Gateway } from './server.ts';
export type { GatewayDeps, GatewayContext, RetryPolicy } from './context.ts';
export { DEFAULT_RETRY } from './context.ts';
export { CircuitBreaker, DEFAULT_BREAKER } from '../state/index.ts';
export type { BreakerOptions, BreakerState, BreakerSnapshot } from '../state/index.ts';
export { ROUTE_NAMES, TASK_HEADER } from './route-request.ts';
