// The FleetStore in PostgreSQL (`--store postgres://…`), for several gateway replicas writing one
// store: the same SQL store as sqlite (sql-store.ts) over a `pg` pool. Replicas serialise their batch
// flushes and migrations with transaction-scoped advisory locks (a batch read-merges histogram rows,
// which two concurrent writers would otherwise overwrite); reads run in parallel on the pool.
import pg from 'pg';
import { FleetError } from '../errors.ts';
import type { Row, SqlDriver, SqlLock, SqlQueryable, SqlStoreOptions, SqlValue } from './sql-store.ts';
import { migrate, SqlStore } from './sql-store.ts';

/** Advisory lock keys (bigints no other tool on the database uses). */
const LOCK_KEYS: Record<SqlLock, number> = {
  migrate: 0x11f1_0001,
  flush: 0x11f1_0002,
  incident: 0x11f1_0003,
};

export interface PostgresStoreOptions extends SqlStoreOptions {
  /** postgres://user:password@host:port/database (or postgresql://). */
  readonly url: string;
  /** Connections in the pool (default 4: one flushing, the rest for the dashboard and commands). */
  readonly poolSize?: number;
  /** A statement (or waiting for a connection) longer than this fails (default 10 s). */
  readonly queryTimeoutMs?: number;
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL without its password, for messages and `/health`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** `?` → `$1`, `$2`, … (the store's SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function queryable(client: pg.Pool | pg.PoolClient): SqlQueryable {
  return {
    all: async (sql, params = []) => (await client.query(numbered(sql), params as SqlValue[])).rows as Row[],
    run: async (sql, params = []) => (await client.query(numbered(sql), params as SqlValue[])).rowCount ?? 0,
  };
}

// A server shutdown (a restart, `pg_ctl stop`) sends every connection a FATAL 57P01. pg-pool only
// listens for it while a client is idle or inside pool.query; one arriving in the moments between
// (a connection just made, a client being handed over) is an 'error' event without a listener,
// which would crash the process. Every client has its own listener: the query in flight still
// rejects with the error and the pool drops the broken client when it is released.
class QuietClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}

class PostgresDriver implements SqlDriver {
  readonly location: string;
  readonly #pool: pg.Pool;
  readonly #direct: SqlQueryable;

  constructor(options: PostgresStoreOptions) {
    this.location = redactUrl(options.url);
    const timeoutMs = options.queryTimeoutMs ?? 10_000;
    this.#pool = new pg.Pool({
      Client: QuietClient,
      connectionString: options.url,
      max: options.poolSize ?? 4,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: 'llm-fleet',
    });
    // An idle connection the server dropped (a restart) must not crash the process: the next
    // query gets a fresh connection, or fails and is retried by the caller.
    this.#pool.on('error', () => undefined);
    this.#direct = queryable(this.#pool);
  }

  all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.#direct.all(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>, lock?: SqlLock): Promise<T> {
    const client = await this.#pool.connect();
    // A server shutdown mid-transaction arrives as an 'error' event on the checked-out client (the
    // pool only listens while it is idle): without a listener it would crash the process. The
    // query in flight rejects with it anyway.
    const ignore = (): void => undefined;
    client.on('error', ignore);
    let broken = false;
    try {
      await client.query('BEGIN');
      if (lock) await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEYS[lock]]);
      const result = await fn(queryable(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      // A connection that could not roll back is discarded, not handed to the next caller.
      client.off('error', ignore);
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

/** Connects, migrates (one replica at a time) and returns the store. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<SqlStore> {
  const driver = new PostgresDriver(options);
  try {
    await migrate(driver);
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw new FleetError(
      'store_open',
      `cannot open the store at ${driver.location}: ${(error as Error).message}`,
      {
        hint: 'check that PostgreSQL is running, the URL (user, password, database) in --store or LLM_FLEET_STORE, and that the user may create tables',
        cause: error,
      },
    );
  }
  return new SqlStore(driver, options);
}
