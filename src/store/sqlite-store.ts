// The default FleetStore: node:sqlite (built into Node 24, no native addon) in one file, WAL mode,
// behind the SQL store (sql-store.ts: batching, rollups, the evaluator's input). Statements run
// synchronously inside the promise the interface returns. A transaction holds the file until it
// commits and other statements on that file in this process wait for it, so an awaited step inside
// a batch never lets a read, another batch or a second handle on the same file (whose BEGIN would
// block the thread on the file lock the first still holds) interleave.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { StatementSync } from 'node:sqlite';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { FleetError } from '../errors.ts';
import type { Row, SqlDriver, SqlQueryable, SqlStoreOptions, SqlValue } from './sql-store.ts';
import { migrate, SqlStore } from './sql-store.ts';

export { DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_RETENTION, SqlStore } from './sql-store.ts';

export const DEFAULT_STORE_PATH = '.llm-fleet/fleet.db';
/** Prepared statements kept per connection (multi-row inserts vary in length). */
const STATEMENT_CACHE = 256;
/** Per file: settles when the transaction holding it in this process (if any) is done. */
const heldFiles = new Map<string, Promise<void>>();

export interface SqliteStoreOptions extends SqlStoreOptions {
  /** File path, or ':memory:'. Default `.llm-fleet/fleet.db` under the working directory. */
  readonly path?: string;
}

/** --store, else LLM_FLEET_STORE, else .llm-fleet/fleet.db. */
export function defaultStorePath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.LLM_FLEET_STORE ?? DEFAULT_STORE_PATH;
}

/** How long a statement waits for another process's lock on the file before it fails. */
const BUSY_TIMEOUT_MS = 5_000;

class SqliteDriver implements SqlDriver {
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** The key of this file in heldFiles (a memory database is its own). */
  readonly #file: string;

  constructor(path: string) {
    this.location = path;
    this.#file = path === ':memory:' ? `:memory:${Math.random()}` : resolve(path);
    if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
    // The busy timeout from the first statement on: switching a new file to WAL takes its lock, and
    // two `--workers` opening one file at once failed with "database is locked" when it was set after.
    this.#db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
    // WAL + NORMAL: a committed batch survives a process crash; only an OS crash may lose the last one.
    this.#db.exec('PRAGMA synchronous = NORMAL');
  }

  /**
   * Switches the file to WAL. SQLite answers SQLITE_BUSY at once here, without its busy handler,
   * when another process is switching the same new file at that moment (seen: 9 of 30 pairs of
   * processes opening one new file within a millisecond on a loaded machine), so this retries
   * until the busy timeout; once the other has switched, the pragma only reads the header.
   */
  async enableWal(): Promise<void> {
    if (this.location === ':memory:') return;
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        this.#db.exec('PRAGMA journal_mode = WAL');
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() > deadline) throw error;
        await sleep(5 + Math.random() * 20);
      }
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      if (this.#statements.size >= STATEMENT_CACHE) this.#statements.clear();
      this.#statements.set(sql, (s = this.#db.prepare(sql)));
    }
    return s;
  }

  readonly #direct: SqlQueryable = {
    all: (sql, params = []) => Promise.resolve(this.#stmt(sql).all(...params) as Row[]),
    run: (sql, params = []) => Promise.resolve(Number(this.#stmt(sql).run(...params).changes)),
  };

  get #held(): Promise<void> {
    return heldFiles.get(this.#file) ?? Promise.resolve();
  }

  async all(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    await this.#held;
    return this.#direct.all(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    await this.#held;
    return this.#direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    // Every process writes through the same file: IMMEDIATE takes the write lock up front, so two
    // writers wait (busy_timeout) instead of failing on a read-to-write upgrade. The file lock also
    // serves as the flush and migration lock.
    let release = (): void => undefined;
    const previous = this.#held;
    const mine = new Promise<void>((resolve) => (release = resolve));
    heldFiles.set(this.#file, mine);
    await previous;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#direct);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    } finally {
      release();
      if (heldFiles.get(this.#file) === mine) heldFiles.delete(this.#file);
    }
  }

  async close(): Promise<void> {
    await this.#held;
    this.#db.close();
  }
}

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6), the primary code of node:sqlite's error. */
function isBusy(error: unknown): boolean {
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}

/** Opens (creating and migrating if needed) the sqlite store at `options.path`. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqlStore> {
  const path = options.path ?? DEFAULT_STORE_PATH;
  let driver: SqliteDriver | undefined;
  try {
    driver = new SqliteDriver(path);
    await driver.enableWal();
    await migrate(driver);
  } catch (error) {
    await driver?.close().catch(() => undefined);
    throw new FleetError('store_open', `cannot open the store at ${path}: ${(error as Error).message}`, {
      hint: 'pass --store PATH (or set LLM_FLEET_STORE) to a writable file',
      cause: error,
    });
  }
  return new SqlStore(driver, options);
}
