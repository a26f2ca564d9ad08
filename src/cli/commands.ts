// The list of commands. Each command lives in its own file and registers itself here.
import type { Command } from 'commander';
import type { CliIo } from './io.ts';

export type RegisterCommand = (program: Command, io: CliIo) => void;

export const commands: RegisterCommand[] = [];
