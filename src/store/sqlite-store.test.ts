// What only the sqlite store does: one file in WAL mode, its directory created, a clear error where
// it cannot be written. Everything both stores promise is in test/store/contract.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadFleet } from '../fleet/index.ts';
import { SCHEMA_VERSION } from './schema.ts';
import { openSqliteStore } from './sqlite-store.ts';

const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('sqlite store', () => {
  it('creates its directory and one file in WAL mode', async () => {
    const path = join(tempDir(), 'nested', 'fleet.db');
    const store = await openSqliteStore({ path, fleet });
    expect(await store.schemaVersion()).toBe(SCHEMA_VERSION);
    await store.close();
    const db = new DatabaseSync(path);
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    db.close();
  });

  it('says where and how when the file cannot be opened', async () => {
    const blocker = join(tempDir(), 'not-a-dir');
    writeFileSync(blocker, '');
    await expect(openSqliteStore({ path: join(blocker, 'fleet.db'), fleet })).rejects.toMatchObject({
      code: 'store_open',
      message: expect.stringContaining(blocker),
      hint: expect.stringContaining('--store'),
    });
  });
});
