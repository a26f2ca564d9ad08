// `serve --workers 2` on one sqlite file: both workers open (and migrate) the same file at once,
// both monitors write probes and both gateways flush request batches into it. Nothing may fail
// with "database is locked", and every answered request is stored exactly once. The opening race
// itself is narrow (workers start some milliseconds apart), so it is also forced: two processes
// opening one new file within the same millisecond, several times.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../gateway/harness.ts';
import { freePort } from '../support/ports.ts';

const OPEN_AT = fileURLToPath(new URL('../support/open-store-at.ts', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/llm-fleet.js', import.meta.url));
const FLEET = fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url));
const REQUESTS = 60;

let h: Harness;
let child: ChildProcess;
let url: string;
let dir: string;
let stderr = '';

function stopServe(): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('serve --workers 2 on one sqlite file', () => {
  beforeAll(async () => {
    h = await startHarness();
    dir = mkdtempSync(join(tmpdir(), 'llm-fleet-workers-sqlite-'));
    const env = { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' } as Record<string, string>;
    for (const e of h.fleet.endpoints) if (h.sims[e.name]) env[e.env] = h.sims[e.name]!.url;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      process.execPath,
      [BIN, 'serve', '-f', FLEET, '--workers', '2', '--port', String(port), '--store', join(dir, 'fleet.db')],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`${url}/health`, { headers: { connection: 'close' } });
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`serve --workers 2 did not start:\n${stderr}`);
      await sleep(100);
    }
  }, 90_000);

  afterAll(async () => {
    await stopServe();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('two processes opening one new file at the same instant both open it (8 rounds)', async () => {
    const run = (file: string, atMs: number): Promise<string> =>
      new Promise((resolve, reject) =>
        execFile(process.execPath, [OPEN_AT, file, String(atMs)], (error, stdout) =>
          error ? reject(error) : resolve(stdout.trim()),
        ),
      );
    for (let round = 0; round < 8; round++) {
      const file = join(dir, `race-${round}`, 'fleet.db');
      // Far enough ahead that both have loaded their modules on a busy machine.
      const atMs = Date.now() + 3_000;
      expect(await Promise.all([run(file, atMs), run(file, atMs)])).toEqual(['ok', 'ok']);
    }
  }, 120_000);

  it('both workers write the one file: no "database is locked", every request stored once', async () => {
    const ids = Array.from({ length: REQUESTS }, (_, i) => `workers-sqlite-${i}`);
    // New connections each, so the primary deals them to both workers.
    const answers = await Promise.all(
      ids.map(async (id) => {
        const r = await fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close', 'x-request-id': id },
          body: JSON.stringify({
            model: 'coder-fast',
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 4,
          }),
        });
        await r.arrayBuffer();
        return r.status;
      }),
    );
    expect(answers).toEqual(new Array(REQUESTS).fill(200));
    // A clean stop flushes what each worker still holds.
    await stopServe();
    expect(stderr).not.toMatch(/locked|SQLITE_BUSY/i);
    const db = new DatabaseSync(join(dir, 'fleet.db'), { readOnly: true });
    try {
      const rows = db
        .prepare(`SELECT id, COUNT(*) AS n FROM request_records WHERE id LIKE 'workers-sqlite-%' GROUP BY id`)
        .all() as { id: string; n: number }[];
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      expect(rows.every((r) => r.n === 1)).toBe(true);
      const probes = db.prepare('SELECT COUNT(*) AS n FROM probe_results').get() as { n: number };
      expect(probes.n).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  }, 90_000);
});
