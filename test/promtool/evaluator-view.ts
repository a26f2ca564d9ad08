// What the agreement test uses from the evaluator and the renderer, in one place.
export {
  aggregateRate,
  burnStatus,
  foldProbes,
  judgeRecovery,
  objectivesFor,
  promDuration,
} from '../../src/slo/index.ts';
export {
  aggregateRateRecord as aggregateRateRecordName,
  errorRatioRecord as errorRatioRecordName,
} from '../../src/export/index.ts';
