// The list of commands. Each command lives in its own file and registers itself here.
import type { Command } from 'commander';
import { register as bench } from './bench.ts';
import { register as calibrate } from './calibrate.ts';
import { register as check } from './check.ts';
import { register as demo } from './demo.ts';
import { register as exportCommand } from './export.ts';
import { register as health } from './health.ts';
import type { CliIo } from './io.ts';
import { register as lint } from './lint.ts';
import { register as mark } from './mark.ts';
import { register as monitor } from './monitor.ts';
import { register as report } from './report.ts';
import { register as route } from './route.ts';
import { register as serve } from './serve.ts';
import { register as sim } from './sim.ts';
import { register as validate } from './validate.ts';

export type RegisterCommand = (program: Command, io: CliIo) => void;

export const commands: RegisterCommand[] = [
  validate,
  route,
  health,
  lint,
  calibrate,
  bench,
  sim,
  monitor,
  check,
  mark,
  exportCommand,
  report,
  serve,
  demo,
];
