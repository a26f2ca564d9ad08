// A throwaway redis-server for tests (and examples/ha): Debian's binary, its files in a temp dir, a
// free loopback port, no persistence. `redisMissing()` says why it cannot run here.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const REDIS_BIN = process.env.LLM_FLEET_REDIS_BIN ?? 'redis-server';

export interface RedisServer {
  /** redis://127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  pid(): number | undefined;
  /** SIGKILL (the fault tests' "Redis lost"); `start()` brings it back on the same port, empty. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Why redis-server cannot run here, with the install hint; undefined when it can. */
export function redisMissing(): string | undefined {
  const r = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    return `redis-server not found (${REDIS_BIN}): apt-get install redis-server (or set LLM_FLEET_REDIS_BIN)`;
  return undefined;
}

/** Answers PING with PONG. */
function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const missing = redisMissing();
  if (missing) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'llm-fleet-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    output = '';
    const started = spawn(
      REDIS_BIN,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    started.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child = started;
    const deadline = Date.now() + 15_000;
    while (!(await pong(port))) {
      if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server not answering in 15 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function end(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
    child = undefined;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child?.pid,
    kill: () => end('SIGKILL'),
    start,
    async stop() {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
