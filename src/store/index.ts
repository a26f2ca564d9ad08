// The store: one interface (types.ts), a node:sqlite implementation, and the default location.
export * from './types.ts';
export {
  SqliteStore,
  openSqliteStore,
  defaultStorePath,
  DEFAULT_STORE_PATH,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_RETENTION,
} from './sqlite-store.ts';
export type { SqliteStoreOptions } from './sqlite-store.ts';
export { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
export { MinuteHistogram } from './minute-histogram.ts';
export { evaluationCuts, evaluationData, RAW_SAMPLE_LIMIT } from './evaluation-input.ts';
export type { EvaluationRange } from './evaluation-input.ts';
