// The store: one interface (types.ts) over SQL (sql-store.ts) with two drivers, node:sqlite (the
// default file) and PostgreSQL (shared by replicas); `openStore` picks one from the location.
export * from './types.ts';
export {
  SqlStore,
  DEFAULT_FLUSH_INTERVAL_MS,
  DEFAULT_RETENTION,
  MAX_UNSENT_ROWS,
  splitRange,
} from './sql-store.ts';
export type { SqlStoreOptions } from './sql-store.ts';
export { openSqliteStore, defaultStorePath, DEFAULT_STORE_PATH } from './sqlite-store.ts';
export type { SqliteStoreOptions } from './sqlite-store.ts';
export { openPostgresStore, isPostgresUrl, redactUrl } from './postgres-store.ts';
export type { PostgresStoreOptions } from './postgres-store.ts';
export { openStore } from './open.ts';
export { MIGRATIONS, SCHEMA_VERSION } from './schema.ts';
export { MinuteHistogram } from './minute-histogram.ts';
export { evaluationCuts, evaluationData, RAW_SAMPLE_LIMIT } from './evaluation-input.ts';
export type { EvaluationRange } from './evaluation-input.ts';
