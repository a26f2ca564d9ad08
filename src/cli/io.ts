// What a command may touch of the outside world: output streams and the exit code. Tests pass
// their own to capture output without spawning a process.
import { readFileSync } from 'node:fs';

export interface CliIo {
  readonly version: string;
  readonly env: NodeJS.ProcessEnv;
  readonly isTty: boolean;
  out(text: string): void;
  err(text: string): void;
  /** Commands report 1 (findings) through this; the highest value set wins. */
  setExitCode(code: number): void;
  exitCode(): number;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function processIo(): CliIo {
  let code = 0;
  // `llm-fleet export prometheus | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(code);
    throw error;
  });
  return {
    version: packageVersion(),
    env: process.env,
    isTty: Boolean(process.stdout.isTTY),
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    setExitCode: (c) => void (code = Math.max(code, c)),
    exitCode: () => code,
  };
}

/** An in-memory CliIo for tests. */
export function memoryIo(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: string; stderr: string } {
  let code = 0;
  const io = {
    version: packageVersion(),
    env,
    isTty: false,
    stdout: '',
    stderr: '',
    out: (text: string) => void (io.stdout += text),
    err: (text: string) => void (io.stderr += text),
    setExitCode: (c: number) => void (code = Math.max(code, c)),
    exitCode: () => code,
  };
  return io;
}
