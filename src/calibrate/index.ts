// Calibrate and bench: the seed's measurement procedure (warm-up, isolated measured iterations,
// percentiles, proposed thresholds, server fingerprint) and load generation whose numbers can be
// trusted (closed loop, sweeps, open loop on an absolute schedule, generator lag, goodput).
export { runCalibration } from './procedure.ts';
export type {
  CalibrateOptions,
  CalibrationRun,
  CalibrationSample,
  EndpointCalibration,
  EndpointMetrics,
  NetworkOverhead,
  Progress,
} from './procedure.ts';
export { proposeThresholds, roundNeverZero } from './thresholds.ts';
export type { DerivedValue, MeasuredPercentiles, Proposal, ThresholdInputs } from './thresholds.ts';
export { verdicts, overallVerdict } from './verdict.ts';
export type { Verdict, VerdictLine } from './verdict.ts';
export { planLanes } from './schedule.ts';
export { applyTargets, rewriteFleetText, lineDiff } from './write-back.ts';
export { parseLoadGauges } from './server-state.ts';
export type { ServerFingerprint, LoadGauges } from './server-state.ts';
export { httpTarget, timedStream, timedRequest, tcpConnectTimesMs } from './http.ts';
export type { HttpTarget, TimedStream, TimedResponse } from './http.ts';
export { syntheticPrompt, chatBody, embeddingsBody, forcedLengthFields } from './workload.ts';
export { SUMMARY_HEAD, summaryRows, runNotes } from './render.ts';
