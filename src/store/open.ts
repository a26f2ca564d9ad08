// One way to open a store from `--store` / LLM_FLEET_STORE: a postgres:// (or postgresql://) URL is
// the PostgreSQL store, anything else a sqlite file path (or ':memory:').
import { isPostgresUrl, openPostgresStore } from './postgres-store.ts';
import type { SqlStore, SqlStoreOptions } from './sql-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

export function openStore(location: string, options: SqlStoreOptions): Promise<SqlStore> {
  return isPostgresUrl(location)
    ? openPostgresStore({ ...options, url: location })
    : openSqliteStore({ ...options, path: location });
}
