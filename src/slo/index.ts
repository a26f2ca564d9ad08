// Pure SLO evaluation: objectives as good/valid event ratios, per-minute buckets, error budgets and
// multi-window burn rates (one table shared with the exported rules), availability over business
// hours in an IANA zone, recovery episodes, recalibration triggers, and the fleet verdict.
// No I/O and no clock: every instant is a parameter.
export type { Objective, ObjectiveKind } from './objectives.ts';
export {
  objectivesFor,
  endpointObjectives,
  reportedObjectivesFor,
  endpointReportedObjectives,
  judgeRecord,
  rateShare,
  objectiveBatchSize,
} from './objectives.ts';
export type { RateShare } from './objectives.ts';
export type { SloEvent, EventOutcome, RateEvent } from './events.ts';
export {
  requestEvents,
  rateEvents,
  probeEvents,
  effectiveObjective,
  objectivesOf,
  minuteStart,
} from './events.ts';
export type { MinuteBucket } from './buckets.ts';
export { foldRecords, foldProbes, mergeBuckets, BucketAccumulator } from './buckets.ts';
export type { BurnWindowPair, BurnSeverity } from './burn-windows.ts';
export { BURN_WINDOWS, BURN_RATE_WINDOWS_MS, SLO_PERIOD_MS, promDuration } from './burn-windows.ts';
export type { Counts, ErrorBudget, WindowBurn, BurnAlert, BurnStatus, BucketSource } from './burn-rate.ts';
export { BucketIndex } from './bucket-index.ts';
export { countsIn, errorRatio, errorBudget, burnStatus } from './burn-rate.ts';
export type { LocalTime } from './calendar.ts';
export {
  ALWAYS,
  windowByName,
  inWindow,
  localTime,
  zoneOffsetMs,
  startOfMonthMs,
  localMidnightMs,
  windowMinutes,
  describeWindow,
} from './calendar.ts';
export type { AvailabilityFigure, AvailabilitySummary } from './availability.ts';
export { availabilitySummary } from './availability.ts';
export type { IncidentVerdict, JudgedIncident, RecoverySummary } from './recovery.ts';
export { judgeRecovery, recoveryText } from './recovery.ts';
export type { ReplicaVerdict } from './replicas.ts';
export { replicaVerdicts } from './replicas.ts';
export type {
  CalibrationRunSummary,
  Fingerprint,
  FingerprintChange,
  FingerprintField,
} from './fingerprint.ts';
export {
  FINGERPRINT_FIELDS,
  fingerprintChanges,
  hardwareDescription,
  latestByEndpoint,
} from './fingerprint.ts';
export type { RecalibrationMark, RecalibrationTrigger, TriggerKind, TriggerInputs } from './triggers.ts';
export { recalibrationTriggers } from './triggers.ts';
export { nearestRank, nearestRankOfSorted } from './nearest-rank.ts';
export type { AggregateRate, RateWindow } from './aggregate-rate.ts';
export {
  AGGREGATE_RATE_ALERT,
  AGGREGATE_MIN_BATCHES,
  aggregateRate,
  aggregateText,
  rateWindowsText,
  judgeAggregate,
  ratePerSecond,
} from './aggregate-rate.ts';
export type {
  EndpointSamples,
  EvaluationData,
  ObjectiveAssessment,
  ObjectiveVerdictKind,
  Measured,
  ObjectiveVerdict,
  EndpointStatus,
  EndpointVerdict,
  FleetVerdict,
} from './evaluate.ts';
export {
  evaluateFleet,
  evaluateEndpoint,
  samplesFromRecords,
  formatPercent,
  formatMinutes,
} from './evaluate.ts';
