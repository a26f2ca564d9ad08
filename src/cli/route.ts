// `llm-fleet route`: the seed's select_llm_endpoint as a command — where a request of a task and
// size goes, why, and what comes after it.
import { Command, InvalidArgumentError } from 'commander';
import type { EndpointHealth } from '../routing/index.ts';
import { selectEndpoint, summarizeDecision } from '../routing/index.ts';
import type { RegisterCommand } from './commands.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';
import { request } from 'undici';
import { createProbeDispatcher } from '../probes/health.ts';
import { assertOutboundAllowed } from '../upstream/guard.ts';

function count(value: string): number {
  const n = Number(value.replace(/[_,]/g, '').replace(/k$/i, '000'));
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected a whole number of tokens, e.g. 52000 or 52k');
  return n;
}

interface GatewayExplanation {
  policy: string;
  request: { priority: string };
  candidates: {
    endpoint: string;
    tier: string;
    down: boolean;
    inFlight: number;
    saturated: boolean;
    engineStale: boolean;
    predictedP95Ms: number;
    predictedP99Ms: number;
    targetP95Ms: number | null;
    targetP99Ms: number | null;
    predictedDecodeTokensPerSecond: number | null;
    sustainedTokensPerSecond: number | null;
    headroom: number;
    limiting: string;
  }[];
  decision: { action: string; endpoint: string | null; reason: string };
  admission: { mode: string; queued: number; maxQueue: number };
}

/** `route --gateway`: the running gateway's decision for such a request now, and the load behind it. */
async function explainAtGateway(
  io: Parameters<RegisterCommand>[1],
  gateway: string,
  options: {
    task: string;
    tokens: number;
    maxTokens?: number;
    priority?: string;
    apiKey?: string;
    json?: boolean;
  },
): Promise<void> {
  const base = gateway.replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(`${base}/fleet/route`);
  } catch {
    throw new InvalidArgumentError(`--gateway: '${gateway}' is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  assertOutboundAllowed(url, io.env);
  url.searchParams.set('task', options.task);
  url.searchParams.set('tokens', String(options.tokens));
  if (options.maxTokens !== undefined) url.searchParams.set('max_tokens', String(options.maxTokens));
  if (options.priority !== undefined) url.searchParams.set('priority', options.priority);
  const key = options.apiKey ?? io.env.LLM_FLEET_API_KEY;
  const dispatcher = createProbeDispatcher(10_000, io.env);
  let status: number;
  let text: string;
  try {
    const res = await request(url, {
      dispatcher,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (error) {
    io.err(
      `llm-fleet route: cannot reach the gateway at ${base}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    io.setExitCode(2);
    return;
  } finally {
    await dispatcher.close();
  }
  if (status !== 200) {
    io.err(`llm-fleet route: ${base}/fleet/route answered ${status}: ${text.slice(0, 300)}\n`);
    io.setExitCode(2);
    return;
  }
  const e = JSON.parse(text) as GatewayExplanation;
  if (e.decision.action !== 'dispatch') io.setExitCode(1);
  if (options.json) {
    printJson(io, e);
    return;
  }
  io.out(`${e.decision.endpoint ?? `no endpoint now: ${e.decision.action}`}\n`);
  io.out(
    `  policy    ${e.policy} (${e.request.priority}); admission ${e.admission.mode}, ${e.admission.queued}/${e.admission.maxQueue} queued\n`,
  );
  io.out(`  reason    ${e.decision.reason}\n`);
  io.out(
    table(
      [
        'candidate',
        'tier',
        'in flight',
        'pred P95',
        'target P95',
        'pred P99',
        'target P99',
        'pred decode',
        'floor',
        'headroom',
        'state',
      ],
      e.candidates.map((c) => [
        c.endpoint,
        c.tier,
        String(c.inFlight),
        `${c.predictedP95Ms}ms`,
        c.targetP95Ms === null ? '—' : `${c.targetP95Ms}ms`,
        `${c.predictedP99Ms}ms`,
        c.targetP99Ms === null ? '—' : `${c.targetP99Ms}ms`,
        c.predictedDecodeTokensPerSecond === null ? '—' : `${c.predictedDecodeTokensPerSecond} tok/s`,
        c.sustainedTokensPerSecond === null ? '—' : `${c.sustainedTokensPerSecond} tok/s`,
        `${Math.round(c.headroom * 100)}% (${c.limiting})`,
        [c.down ? 'down' : '', c.saturated ? 'saturated' : '', c.engineStale ? 'engine stale' : '']
          .filter(Boolean)
          .join(', ') || 'ok',
      ]),
    ),
  );
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
    .option(
      '--gateway <url>',
      'explain the decision a running gateway would take now, against its live load (GET /fleet/route)',
    )
    .option('--priority <class>', 'with --gateway: interactive (default) or batch')
    .option('--api-key <key>', 'with --gateway: the key to present (default LLM_FLEET_API_KEY)')
    .option('--json', 'print the decision as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 52000
  llm-fleet route -f examples/onex.fleet.yaml --task code --tokens 38000 --max-tokens 4000
  llm-fleet route -f examples/onex.fleet.yaml --task routing --tokens 900 --down coder-fast --json
  llm-fleet route --gateway http://127.0.0.1:8080 --task code --tokens 1500 --max-tokens 256

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
          gateway?: string;
          priority?: string;
          apiKey?: string;
        },
      ) => {
        if (options.gateway !== undefined) return explainAtGateway(io, options.gateway, options);
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
