// `llm-fleet route`: the seed's select_llm_endpoint as a command — where a request of a task and
// size goes, why, and what comes after it.
import { Command, InvalidArgumentError } from 'commander';
import type { EndpointHealth } from '../routing/index.ts';
import { selectEndpoint, summarizeDecision } from '../routing/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, withFleetOptions } from './shared.ts';

function count(value: string): number {
  const n = Number(value.replace(/[_,]/g, '').replace(/k$/i, '000'));
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected a whole number of tokens, e.g. 52000 or 52k');
  return n;
}

export const register: RegisterCommand = (program, io) => {
  const command = withFleetOptions(new Command('route'))
    .description("Choose the endpoint for a request by task and token count (the seed's select_llm_endpoint)")
    .requiredOption(
      '-t, --task <task>',
      'code, classification, embedding, reasoning, lightweight, an alias, or auto',
    )
    .requiredOption('-n, --tokens <count>', 'prompt tokens (the matrix\'s "token count")', count)
    .option('-m, --max-tokens <count>', 'completion budget; prompt + max tokens must fit the window', count)
    .option('--down <endpoints>', 'comma-separated endpoints to treat as down')
    .option('--json', 'print the decision as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 52000
  llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 38000 --max-tokens 4000
  llm-fleet route -f examples/onex.fleet.yaml --task routing --tokens 900 --down coder-fast --json

Exit codes: 0 an endpoint was chosen · 1 no endpoint can take the request · 2 usage or config error.`,
    )
    .action(
      (
        options: FleetOptions & {
          task: string;
          tokens: number;
          maxTokens?: number;
          down?: string;
          json?: boolean;
        },
      ) => {
        const fleet = loadFleetFor(options, io);
        const health = new Map<string, EndpointHealth>(
          (options.down ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
            .map((name) => [name, 'down']),
        );
        const decision = selectEndpoint(fleet, {
          task: options.task,
          promptTokens: options.tokens,
          maxTokens: options.maxTokens,
          health,
        });
        const first = decision.candidates[0];
        if (!first) io.setExitCode(1);
        if (options.json) {
          printJson(io, summarizeDecision(decision));
          return;
        }
        if (!first) {
          io.out(`no endpoint: ${decision.reason}\n`);
          return;
        }
        io.out(`${first.endpoint.url}\n`);
        io.out(`  endpoint  ${first.endpoint.name} (${first.endpoint.env}, ${first.endpoint.model})\n`);
        io.out(`  reason    ${decision.reason}\n`);
        decision.candidates
          .slice(1)
          .forEach((c, i) =>
            io.out(
              `  ${i === 0 ? 'fallbacks' : '         '} ${i + 1}. ${c.endpoint.name} ${c.endpoint.url} — ${c.reason}\n`,
            ),
          );
        for (const s of decision.skipped) io.out(`  skipped   ${s.endpoint}: ${s.why}\n`);
      },
    );
  program.addCommand(command);
};
