// `llm-fleet serve` as its own process (a gateway replica), for tests that kill one and for
// examples/ha: started with --json on a free port, resolved once it prints its address.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/llm-fleet.js', import.meta.url));

export interface ServeProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number; label?: string } = {},
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', ...args], {
    env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${options.label ?? 'serve'} did not start in time:\n${err}`)),
      options.timeoutMs ?? 30_000,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      // --json prints one indented object: its "url" line is enough.
      const m = /"url":\s*"([^"]+)"/.exec(out);
      if (!m?.[1]) return;
      clearTimeout(timer);
      resolve(m[1]);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.label ?? 'serve'} exited (${code}) before listening:\n${err}`));
    });
  });
  return {
    url,
    pid: child.pid ?? 0,
    child,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    },
  };
}
