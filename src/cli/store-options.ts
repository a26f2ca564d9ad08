// Options the store-backed commands share (check, report, monitor, mark): --store and --at.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import { defaultStorePath, SqliteStore } from '../store/sqlite-store.ts';
import type { CliIo } from './io.ts';

export interface StoreOptions {
  store?: string;
}

export function withStoreOption(command: Command): Command {
  return command.option(
    '-s, --store <path>',
    'store file (default: $LLM_FLEET_STORE or .llm-fleet/fleet.db)',
  );
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
): SqliteStore {
  const path = defaultStorePath(options.store, io.env);
  if (mode === 'read' && path !== ':memory:' && !existsSync(path))
    throw new FleetError('store_missing', `no store at ${path}`, {
      hint: 'run `llm-fleet monitor` or `llm-fleet serve` first to collect data, or pass --store PATH',
    });
  return new SqliteStore({ path, fleet });
}

/** `--at 2026-03-03T18:00:00Z`: evaluate as of an instant (replaying stored data). */
export function instantOption(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms))
    throw new InvalidArgumentError('expected an ISO date-time, e.g. 2026-03-03T18:00:00Z');
  return ms;
}
