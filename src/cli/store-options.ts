// Options the store-backed commands share (check, report, monitor, mark, calibrate, serve, demo):
// --store (a sqlite file or a postgres:// URL) and --at.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import { openStore } from '../store/open.ts';
import { isPostgresUrl } from '../store/postgres-store.ts';
import type { SqlStore } from '../store/sql-store.ts';
import { defaultStorePath } from '../store/sqlite-store.ts';
import type { CliIo } from './io.ts';

export interface StoreOptions {
  store?: string;
}

export function withStoreOption(command: Command): Command {
  return command.option(
    '-s, --store <path|url>',
    'store: a sqlite file, or postgres://user:pass@host:port/db shared by gateway replicas (default: $LLM_FLEET_STORE or .llm-fleet/fleet.db)',
  );
}

/** Whether there is a store to read: a file that exists; a PostgreSQL URL is asked when opened. */
export function storeExists(location: string): boolean {
  return location === ':memory:' || isPostgresUrl(location) || existsSync(location);
}

/**
 * Opens the store. Reading commands refuse to create an empty one silently (a typo in --store
 * would otherwise report 'no data' as if nothing had happened).
 */
export function openStoreFor(
  fleet: Fleet,
  options: StoreOptions,
  io: CliIo,
  mode: 'read' | 'write',
): Promise<SqlStore> {
  const location = defaultStorePath(options.store, io.env);
  if (mode === 'read' && !storeExists(location))
    throw new FleetError('store_missing', `no store at ${location}`, {
      hint: 'run `llm-fleet monitor` or `llm-fleet serve` first to collect data, or pass --store PATH',
    });
  return openStore(location, { fleet });
}

/** `--at 2026-03-03T18:00:00Z`: evaluate as of an instant (replaying stored data). */
export function instantOption(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new InvalidArgumentError('expected an ISO date-time, e.g. 2026-03-03T18:00:00Z');
  return ms;
}
