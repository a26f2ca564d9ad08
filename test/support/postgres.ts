// A throwaway PostgreSQL server for tests (and examples/ha): Debian's binaries, a data directory in a
// temp dir, a free loopback port, the unix socket inside the temp dir. PostgreSQL refuses to run as
// root, so as root the server runs as the unprivileged `postgres` user (runuser) and the temp dir is
// handed to it. `postgresMissing()` says why the server cannot run here (and how to install it).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';

/** LLM_FLEET_PG_BIN, else Debian's 15, else the newest /usr/lib/postgresql/N/bin installed. */
export const POSTGRES_BIN = process.env.LLM_FLEET_PG_BIN ?? debianBin();

function debianBin(): string {
  const root = '/usr/lib/postgresql';
  const preferred = join(root, '15', 'bin');
  if (existsSync(join(preferred, 'initdb'))) return preferred;
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  return versions[0] ? join(root, versions[0], 'bin') : preferred;
}
const RUN_AS = 'postgres';
/** The superuser initdb creates (trust auth on loopback only). */
const SUPERUSER = 'fleet';

export interface PostgresServer {
  /** postgres://fleet@127.0.0.1:port/postgres */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** The postmaster's process id (for examples that report what they started). */
  pid(): number | undefined;
  /** A new empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (what a restart by an operator does), then the same server again on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why PostgreSQL cannot run here, with the install hint; undefined when it can. */
export function postgresMissing(): string | undefined {
  for (const bin of ['initdb', 'postgres'])
    if (!existsSync(join(POSTGRES_BIN, bin)))
      return `PostgreSQL not found (${join(POSTGRES_BIN, bin)} missing): apt-get install postgresql (or set LLM_FLEET_PG_BIN to its bin directory)`;
  if (asRoot()) {
    if (spawnSync('id', ['-u', RUN_AS]).status !== 0)
      return `running as root and there is no '${RUN_AS}' user to run PostgreSQL as: apt-get install postgresql creates it`;
    if (spawnSync('runuser', ['--help']).error)
      return 'running as root and runuser is missing (util-linux) to run PostgreSQL as an unprivileged user';
  }
  return undefined;
}

/** [command, args] running `bin` as the unprivileged user when we are root. */
function command(bin: string, args: readonly string[]): [string, string[]] {
  const path = join(POSTGRES_BIN, bin);
  return asRoot() ? ['runuser', ['-u', RUN_AS, '--', path, ...args]] : [path, [...args]];
}

function idOf(flag: '-u' | '-g'): number {
  return Number(spawnSync('id', [flag, RUN_AS], { encoding: 'utf8' }).stdout.trim());
}

async function waitReady(
  url: string,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}):\n${log()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections in ${timeoutMs} ms:\n${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startPostgres(): Promise<PostgresServer> {
  const missing = postgresMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'sock');
  mkdirSync(socket);
  if (asRoot()) {
    for (const p of [dir, socket]) chownSync(p, idOf('-u'), idOf('-g'));
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = command('initdb', [
    '-D',
    data,
    '-U',
    SUPERUSER,
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--no-instructions',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let output = '';

  async function launch(): Promise<void> {
    const [cmd, args] = command('postgres', [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      socket,
      '-c',
      'listen_addresses=127.0.0.1',
      // A test server: no fsync (a clean or crash restart of the process keeps committed data in the
      // page cache; only an OS crash would lose it), quick checkpoints on shutdown.
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=100',
    ]);
    output = '';
    const started = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child = started;
    await waitReady(url, started, () => output);
  }

  /** The postmaster's own pid (under runuser the child we spawned is runuser). */
  function postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isFinite(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async function shutdown(): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    const pid = postmasterPid();
    // SIGINT: fast shutdown (clients are disconnected, a checkpoint is written).
    // (It may be on its way out already: a Ctrl-C in a terminal reaches it too.)
    const signal = (s: NodeJS.Signals): void => {
      try {
        if (pid !== undefined) process.kill(pid, s);
        else running.kill(s);
      } catch {
        // already gone
      }
    };
    signal('SIGINT');
    const timer = setTimeout(() => {
      signal('SIGKILL');
      running.kill('SIGKILL');
    }, 15_000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  }

  await launch();
  let n = 0;
  return {
    url,
    port,
    dir,
    pid: postmasterPid,
    async createDatabase(name) {
      const db = `${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${++n}`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${db}`);
      } finally {
        await client.end();
      }
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;
    },
    async restart(options = {}) {
      await shutdown();
      if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
      await launch();
    },
    async stop() {
      await shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
