// The CLI run in-process with an in-memory io: what every CLI test does to call a command.
import { memoryIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const io = memoryIo(env);
  const code = await main(args, io);
  return { code, out: io.stdout, err: io.stderr };
}
