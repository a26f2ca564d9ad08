// Measurement: the timing of one request (TTFT, ITL, decode and burst tokens/s) from its SSE bytes,
// and percentiles. No I/O and no clock of its own: callers pass arrival times, so the gateway,
// calibrate and bench all measure by the same definitions.
export * from './record.ts';
export { METRICS } from './metric-names.ts';
export { PERCENTILE_METHOD, percentile, percentileOfSorted, summarize } from './percentiles.ts';
export type { Summary } from './percentiles.ts';
export { StreamTimer, errorText } from './stream-timer.ts';
export type { StreamFailure, StreamTimerOptions, StreamTiming } from './stream-timer.ts';
export { bestOneSecondRate, decodeRate, gaps, streamRates } from './token-rates.ts';
export type { StreamRates } from './token-rates.ts';
export { DEFINITIONS } from './definitions.ts';
