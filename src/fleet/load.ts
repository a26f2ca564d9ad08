// Loading a fleet file: YAML (with positions) → schema → semantic checks → env overrides →
// environment profile → an immutable Fleet. Any error stops the load: never a half-loaded fleet.
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import { FleetError } from '../errors.ts';
import { applyEnvironment } from './environments.ts';
import type { FleetFile } from './schema.ts';
import { fleetSchema, sloSchema } from './schema.ts';

const EMPTY_SLO = sloSchema.parse({});
import type {
  BusinessHours,
  Endpoint,
  EndpointSlo,
  EnvironmentName,
  Fleet,
  FleetIssue,
  RoutingRule,
  Task,
  LoadRouting,
  Priority,
} from './types.ts';
import { TASKS } from './types.ts';
import { formatTokens } from './units.ts';

export interface LoadOptions {
  /** Environment variables consulted for URL overrides (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Environment profile; default `LLM_FLEET_ENV` or `development`. */
  readonly environment?: EnvironmentName;
}

export const ENVIRONMENTS: readonly EnvironmentName[] = ['development', 'production', 'degraded', 'ci'];

/** Thrown when a fleet file does not validate; carries every issue found, each with file:line:column. */
export class FleetValidationError extends FleetError {
  readonly issues: readonly FleetIssue[];
  constructor(file: string, issues: readonly FleetIssue[]) {
    // Each issue carries its own hint; there is no single hint for the whole file.
    super('fleet_invalid', `${file} is not a valid fleet file:\n${issues.map(formatIssue).join('\n')}`);
    this.issues = issues;
  }
}

export function formatIssue(issue: FleetIssue): string {
  const where = [issue.file, issue.line, issue.column].filter((p) => p !== undefined).join(':');
  const field = issue.field ? ` ${issue.field}:` : '';
  const hint = issue.hint ? `\n    hint: ${issue.hint}` : '';
  return `  ${where}:${field} ${issue.message} [${issue.code}]${hint}`;
}

export function loadFleet(path: string, options: LoadOptions = {}): Fleet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FleetError('fleet_not_found', `cannot read fleet file ${path}: ${(error as Error).message}`, {
      hint: 'pass --fleet PATH or set LLM_FLEET_FILE; the example is examples/onex.fleet.yaml',
      cause: error,
    });
  }
  return parseFleet(text, path, options);
}

export function parseFleet(text: string, file: string, options: LoadOptions = {}): Fleet {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new FleetValidationError(
      file,
      doc.errors.map((e) => ({
        code: 'yaml_syntax',
        message: e.message.split('\n')[0] ?? e.message,
        file,
        ...at(e.pos[0]),
        hint: 'check indentation and quoting around this line',
      })),
    );
  }
  const locate = (path: readonly (string | number)[]) => at(nodeOffset(doc, path));

  const parsed = fleetSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new FleetValidationError(
      file,
      parsed.error.issues.map((issue) => {
        const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
        const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
        const keyPath = unknownKeys.length > 0 ? [...path, unknownKeys[0] as string] : path;
        return {
          code: issue.code === 'unrecognized_keys' ? 'unknown_field' : 'invalid_value',
          message: issue.message,
          file,
          field: path.join('.') || undefined,
          ...locate(keyPath),
          hint:
            unknownKeys.length > 0
              ? suggestField(unknownKeys[0] as string)
              : shapeHint(issue.message, path[path.length - 1]),
        };
      }),
    );
  }
  const env = options.env ?? process.env;
  const environment = options.environment ?? environmentFromEnv(env);
  return buildFleet(parsed.data, file, locate, env, environment);
}

export function environmentFromEnv(env: NodeJS.ProcessEnv): EnvironmentName {
  const value = env.LLM_FLEET_ENV;
  if (value === undefined || value === '') return 'development';
  if ((ENVIRONMENTS as readonly string[]).includes(value)) return value as EnvironmentName;
  throw new FleetError('bad_environment', `LLM_FLEET_ENV=${value} is not an environment`, {
    hint: `use one of ${ENVIRONMENTS.join(', ')}`,
  });
}

type Locate = (path: readonly (string | number)[]) => { line?: number; column?: number };

function buildFleet(
  raw: FleetFile,
  file: string,
  locate: Locate,
  env: NodeJS.ProcessEnv,
  environment: EnvironmentName,
): Fleet {
  const errors: FleetIssue[] = [];
  const warnings: FleetIssue[] = [];
  const issue = (code: string, path: (string | number)[], message: string, hint?: string): FleetIssue => ({
    code,
    message,
    file,
    field: path.join('.'),
    ...locate(path),
    hint,
  });
  const error = (code: string, path: (string | number)[], message: string, hint?: string) =>
    errors.push(issue(code, path, message, hint));
  const warn = (code: string, path: (string | number)[], message: string, hint?: string) =>
    warnings.push(issue(code, path, message, hint));

  const hostNames = Object.keys(raw.hosts);
  const endpointNames = Object.keys(raw.endpoints);
  const windowNames = ['always', ...Object.keys(raw.windows)];

  const windows: BusinessHours[] = [
    {
      name: 'always',
      days: [0, 1, 2, 3, 4, 5, 6],
      startMinute: 0,
      endMinute: 1440,
      timeZone: 'UTC',
      always: true,
    },
    ...Object.entries(raw.windows).map(([name, w]) => {
      if (w.end <= w.start)
        error('window_order', ['windows', name, 'end'], `end ${w.end} is not after start ${w.start}`);
      return {
        name,
        days: w.days,
        startMinute: w.start,
        endMinute: w.end,
        timeZone: w.timezone,
        always: false,
      };
    }),
  ];

  // Deprecated entries first: endpoints and rules are checked against them.
  const deprecated = raw.deprecated.map((d, i) => {
    const url = new URL(d.url);
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    for (const r of d.replacements) {
      if (!endpointNames.includes(r))
        error(
          'unknown_endpoint',
          ['deprecated', i, 'replacements'],
          `replacement '${r}' is not an endpoint`,
          known(endpointNames),
        );
    }
    return {
      env: d.env,
      url: d.url,
      host: url.hostname,
      port,
      status: d.status,
      replacements: d.replacements,
      note: d.note,
    };
  });
  const deprecatedEnv = new Set(deprecated.map((d) => d.env));

  const seenEnv = new Map<string, string>();
  const seenAddress = new Map<string, string>();
  const seenModelIds = new Map<string, string>();
  const endpoints: Endpoint[] = Object.entries(raw.endpoints).map(([name, written]) => {
    const path = ['endpoints', name];
    // An endpoint without `slo` is measured and never judged: it gets the empty targets.
    const judged = written.slo !== undefined;
    const e = { ...written, slo: written.slo ?? EMPTY_SLO };
    const host = raw.hosts[e.host];
    if (!host)
      error(
        'unknown_host',
        [...path, 'host'],
        `host '${e.host}' is not defined under hosts`,
        known(hostNames),
      );
    const previous = seenEnv.get(e.env);
    if (previous)
      error(
        'duplicate_env',
        [...path, 'env'],
        `${e.env} is already the variable of endpoint '${previous}'`,
        'each endpoint needs its own environment variable',
      );
    seenEnv.set(e.env, name);
    if (deprecatedEnv.has(e.env))
      error(
        'deprecated_env',
        [...path, 'env'],
        `${e.env} is a deprecated variable`,
        'give the endpoint a new variable',
      );

    const servedModels = [...new Set([e.servedModel ?? e.model, ...e.models])];
    servedModels.forEach((id) => {
      const owner = seenModelIds.get(id);
      if (owner && owner !== name)
        warn(
          'duplicate_model',
          [...path, e.models.includes(id) ? 'models' : 'model'],
          `model id '${id}' is also served by endpoint '${owner}'; a request naming it goes to '${owner}' first`,
          `list '${name}' in ${owner}'s fallbacks to use it when ${owner} cannot answer`,
        );
      seenModelIds.set(id, name);
    });

    const port = e.port === 'TBD' ? undefined : e.port;
    if (port === undefined && e.status === 'running')
      error(
        'port_tbd',
        [...path, 'port'],
        'a running endpoint needs a port',
        "set the port, or mark the endpoint 'status: planned'",
      );
    if (host && port !== undefined) {
      const address = `${host.address}:${port}`;
      const other = seenAddress.get(address);
      if (other)
        error(
          'duplicate_address',
          [...path, 'port'],
          `${address} is already endpoint '${other}'`,
          `one server serving several models (a llama.cpp router, mlx_lm loading by name, vLLM LoRA adapters) is one endpoint: list the extra model ids under '${other}' as models: [...] and remove '${name}'`,
        );
      seenAddress.set(address, name);
      const dead = deprecated.find((d) => d.host === host.address && d.port === port);
      if (dead)
        error(
          'deprecated_address',
          [...path, 'port'],
          `${address} is the decommissioned ${dead.env}`,
          "use the endpoint's real port",
        );
    }
    for (const [i, f] of e.fallbacks.entries()) {
      if (!endpointNames.includes(f))
        error(
          'unknown_endpoint',
          [...path, 'fallbacks', i],
          `fallback '${f}' is not an endpoint`,
          known(endpointNames),
        );
      if (f === name)
        error('self_fallback', [...path, 'fallbacks', i], `endpoint '${name}' names itself as a fallback`);
    }
    if (e.kind === 'embeddings' && e.dialect === 'mlx')
      error(
        'dialect_kind',
        [...path, 'dialect'],
        'mlx_lm.server serves no embeddings',
        'use tei, vllm or llamacpp for an embeddings endpoint',
      );
    if (e.kind === 'chat' && e.dialect === 'tei')
      error(
        'dialect_kind',
        [...path, 'dialect'],
        'TEI serves embeddings only',
        "set 'kind: embeddings' or another dialect",
      );
    if (!windowNames.includes(e.slo.availability.window))
      error(
        'unknown_window',
        [...path, 'slo', 'availability', 'window'],
        `window '${e.slo.availability.window}' is not defined`,
        known(windowNames),
      );
    if (e.slo.ttft && e.slo.ttft.p95 > e.slo.ttft.p99)
      error(
        'p95_above_p99',
        [...path, 'slo', 'ttft', 'p95'],
        `TTFT P95 target ${e.slo.ttft.p95}ms is above the P99 target ${e.slo.ttft.p99}ms`,
        'a P95 target can never exceed the P99 target; swap them?',
      );
    const tp = e.slo.throughput;
    if (tp.sustained !== undefined && tp.burst !== undefined && tp.sustained > tp.burst)
      error(
        'sustained_above_burst',
        [...path, 'slo', 'throughput', 'sustained'],
        `sustained ${tp.sustained} tok/s is above burst ${tp.burst} tok/s`,
      );
    if (e.kind === 'embeddings' && (tp.sustained !== undefined || tp.burst !== undefined))
      warn(
        'tokens_on_embeddings',
        [...path, 'slo', 'throughput'],
        'token throughput targets on an embeddings endpoint are ignored',
        'use embeddingsPerSecond',
      );

    const envUrl = env[e.env];
    let url: string | undefined;
    // The pool: host:port then `replicas`; a set variable replaces the whole pool (one URL, or
    // several separated by commas), so an override never leaves a replica pointing elsewhere.
    let poolUrls: string[] = [];
    if (envUrl !== undefined && envUrl !== '') {
      for (const part of envUrl.split(',').map((p) => p.trim())) {
        try {
          poolUrls.push(normaliseUrl(part));
        } catch {
          const what = part === envUrl.trim() ? '' : `: '${part}'`;
          throw new FleetError('bad_env_url', `${e.env}=${envUrl}${what} is not a URL`, {
            hint: `set ${e.env} to e.g. http://127.0.0.1:8000 (a replica pool: http://127.0.0.1:8000,http://127.0.0.1:8001)`,
          });
        }
      }
      url = poolUrls[0];
    } else {
      if (host && port !== undefined) {
        url = `http://${host.address.includes(':') ? `[${host.address}]` : host.address}:${port}`;
        poolUrls.push(url);
      }
      for (const [i, raw] of e.replicas.entries()) {
        let replicaUrl: string;
        try {
          replicaUrl = normaliseUrl(raw);
        } catch {
          error(
            'bad_replica_url',
            [...path, 'replicas', i],
            `replica '${raw}' is not an http(s) URL`,
            'write each replica as a base URL, e.g. http://192.168.86.21:8000',
          );
          continue;
        }
        if (poolUrls.includes(replicaUrl)) {
          error(
            'duplicate_replica',
            [...path, 'replicas', i],
            `replica ${replicaUrl} is already in ${name}'s pool`,
            'each replica is a separate server: list every URL once (host:port is the first replica)',
          );
          continue;
        }
        const owner = seenAddress.get(new URL(replicaUrl).host);
        if (owner && owner !== name)
          error(
            'duplicate_address',
            [...path, 'replicas', i],
            `replica ${replicaUrl} is already endpoint '${owner}'`,
            'a replica serves the same model as its endpoint; one server belongs to one endpoint',
          );
        seenAddress.set(new URL(replicaUrl).host, name);
        poolUrls.push(replicaUrl);
      }
      if (e.replicas.length > 0 && url === undefined) poolUrls = [];
    }
    if (e.affinity !== undefined && poolUrls.length < 2 && e.replicas.length === 0)
      warn(
        'affinity_without_replicas',
        [...path, 'affinity'],
        `'${name}' has one server: affinity only matters across replicas`,
        'list the other servers under replicas: [url, …]',
      );
    // A planned endpoint whose variable is set has been given an address by its operator: routable.
    const status = e.status === 'planned' && !(envUrl !== undefined && envUrl !== '') ? 'planned' : 'running';
    const slo: EndpointSlo = {
      ttft: e.slo.ttft ? { p95Ms: e.slo.ttft.p95, p99Ms: e.slo.ttft.p99 } : undefined,
      throughput: {
        sustainedTokensPerSecond: tp.sustained,
        burstTokensPerSecond: tp.burst,
        embeddingsPerSecond: tp.embeddingsPerSecond,
        note: tp.note,
      },
      availability:
        e.slo.availability.target === 'best-effort'
          ? { window: e.slo.availability.window, bestEffort: true, note: e.slo.availability.note }
          : {
              target: e.slo.availability.target,
              window: e.slo.availability.window,
              bestEffort: false,
              note: e.slo.availability.note,
            },
      recoveryMs: e.slo.recovery,
      batchSize: e.slo.batchSize,
      dimension: e.slo.dimension,
    };
    const upstreamApiKey = e.apiKeyEnv === undefined ? undefined : env[e.apiKeyEnv] || undefined;
    if (e.apiKeyEnv !== undefined && upstreamApiKey === undefined && status === 'running')
      warn(
        'api_key_env_unset',
        [...path, 'apiKeyEnv'],
        `${e.apiKeyEnv} is not set: requests to '${name}' go without a key`,
        `export ${e.apiKeyEnv}=<the server's --api-key> before starting the gateway`,
      );
    if (e.apiKeyEnv !== undefined && e.dialect === 'mlx')
      warn(
        'api_key_on_mlx',
        [...path, 'apiKeyEnv'],
        `mlx_lm.server has no API key option: '${name}' ignores the key`,
        'put a proxy that checks keys in front of mlx_lm, or drop apiKeyEnv',
      );
    const ttftTimeoutMs = e.timeouts.ttft ?? Math.max(2 * (slo.ttft?.p99Ms ?? 30_000), 5_000);
    return {
      name,
      env: e.env,
      ...(e.apiKeyEnv !== undefined ? { apiKeyEnv: e.apiKeyEnv } : {}),
      ...(upstreamApiKey !== undefined ? { upstreamApiKey } : {}),
      host: e.host,
      port,
      url: status === 'running' ? url : undefined,
      urlFromEnv: envUrl !== undefined && envUrl !== '',
      replicas: status === 'running' ? poolUrls.map((u, i) => ({ id: String(i), url: u })) : undefined,
      affinity:
        e.affinity === undefined
          ? { loadFactor: 1.25, prefixChars: 1024 }
          : e.affinity === false
            ? false
            : { loadFactor: e.affinity.loadFactor, prefixChars: e.affinity.prefixChars },
      model: e.model,
      servedModel: e.servedModel ?? e.model,
      servedModels,
      judged,
      dialect: e.dialect,
      kind: e.kind,
      status,
      contextWindowTokens: e.context,
      hardware: e.hardware,
      notes: e.notes,
      fallbacks: e.fallbacks,
      canContinue: e.canContinue ?? (e.dialect === 'vllm' || e.dialect === 'llamacpp'),
      reasoning: e.reasoning,
      continueReasoning: e.continueReasoning ?? (e.dialect === 'vllm' || e.dialect === 'llamacpp'),
      reasoningParser: e.reasoningParser,
      serverVersion: e.serverVersion,
      maxBatchSize: e.maxBatchSize ?? (e.dialect === 'tei' ? 32 : undefined),
      maxConcurrency: e.maxConcurrency,
      maxQueue: e.maxQueue,
      slo,
      baseSlo: slo,
      timeouts: {
        connectTimeoutMs: e.timeouts.connect ?? 2_000,
        ttftTimeoutMs,
        idleTimeoutMs: e.timeouts.idle ?? 30_000,
        totalTimeoutMs: e.timeouts.total ?? 600_000,
      },
      retry:
        e.retry === undefined
          ? undefined
          : {
              ...(e.retry.sameEndpointFirst !== undefined
                ? { sameEndpointFirst: e.retry.sameEndpointFirst }
                : {}),
              ...(e.retry.maxWait !== undefined ? { maxWaitMs: e.retry.maxWait } : {}),
            },
      sim:
        e.sim === undefined
          ? undefined
          : {
              faults:
                e.sim.faults === undefined
                  ? []
                  : typeof e.sim.faults === 'string'
                    ? [e.sim.faults]
                    : e.sim.faults,
              startupMs: e.sim.startup,
              maxNumSeqs: e.sim.maxNumSeqs,
              maxNumBatchedTokens: e.sim.maxNumBatchedTokens,
              kvCacheTokens: e.sim.kvCacheTokens,
              blockSizeTokens: e.sim.blockSize,
              prefillChunkTokens: e.sim.prefillStepSize,
              maxConcurrentPrefills: e.sim.promptConcurrency,
              maxBatchTokens: e.sim.maxBatchTokens,
            },
    };
  });
  const byName = new Map(endpoints.map((e) => [e.name, e]));

  // Routing: tasks, aliases, endpoints, and whether a token threshold fits the target's window.
  const taskAliases: Record<string, Task> = {};
  for (const [alias, task] of Object.entries(raw.routing.aliases)) {
    if (!TASKS.includes(task as Task))
      error(
        'unknown_task',
        ['routing', 'aliases', alias],
        `alias '${alias}' points at unknown task '${task}'`,
        `tasks are ${TASKS.join(', ')}`,
      );
    else taskAliases[alias] = task as Task;
  }
  const resolveTask = (t: string): Task | undefined =>
    TASKS.includes(t as Task) ? (t as Task) : taskAliases[t];
  const checkTarget = (target: string, path: (string | number)[], what: string) => {
    const ep = byName.get(target);
    if (!ep) {
      const dead = deprecated.find((d) => d.env === target || d.env.toLowerCase() === target.toLowerCase());
      if (dead)
        error(
          'routes_to_deprecated',
          path,
          `${what} '${target}' is the decommissioned ${dead.env}`,
          'route to an endpoint of the inventory',
        );
      else error('unknown_endpoint', path, `${what} '${target}' is not an endpoint`, known(endpointNames));
    }
    return ep;
  };
  const rules: RoutingRule[] = raw.routing.rules.map((r, i) => {
    const path = ['routing', 'rules', i];
    const task = resolveTask(r.task);
    if (!task)
      error(
        'unknown_task',
        [...path, 'task'],
        `task '${r.task}' is not a routing task`,
        `tasks are ${TASKS.join(', ')} and the aliases under routing.aliases`,
      );
    const target = checkTarget(r.endpoint, [...path, 'endpoint'], 'endpoint');
    r.fallbacks.forEach((f, j) => checkTarget(f, [...path, 'fallbacks', j], 'fallback'));
    const threshold = r.tokens.min ?? r.tokens.max;
    if (
      target?.contextWindowTokens !== undefined &&
      r.tokens.max !== undefined &&
      r.tokens.max > target.contextWindowTokens
    )
      error(
        'threshold_exceeds_window',
        [...path, 'tokens'],
        `rule sends up to ${r.tokens.max} tokens to '${target.name}', whose window is ${formatTokens(target.contextWindowTokens)} (${target.contextWindowTokens})`,
        'lower the threshold or route to a larger-context endpoint',
      );
    if (
      target?.contextWindowTokens !== undefined &&
      r.tokens.min !== undefined &&
      r.tokens.min >= target.contextWindowTokens
    )
      error(
        'threshold_exceeds_window',
        [...path, 'tokens'],
        `rule sends more than ${r.tokens.min} tokens to '${target.name}', whose window is only ${target.contextWindowTokens}`,
      );
    if (target && task === 'embedding' && target.kind !== 'embeddings')
      error(
        'kind_mismatch',
        [...path, 'endpoint'],
        `embedding requests routed to chat endpoint '${target.name}'`,
      );
    if (target && task !== undefined && task !== 'embedding' && target.kind === 'embeddings')
      error(
        'kind_mismatch',
        [...path, 'endpoint'],
        `${task} requests routed to embeddings endpoint '${target.name}'`,
      );
    void threshold;
    return {
      task: task ?? 'code',
      minTokensExclusive: r.tokens.min,
      maxTokensInclusive: r.tokens.max,
      endpoint: r.endpoint,
      fallbacks: r.fallbacks,
      rationale: r.rationale,
      tokenLabel: r.tokens.label,
      taskLabel: r.task,
    };
  });
  checkTarget(raw.routing.default, ['routing', 'default'], 'default endpoint');

  // Seed inconsistency #2: a rounding step larger than the value it rounds would erase the target.
  const step = raw.calibration.rounding.throughput;
  const erased = endpoints.flatMap((ep) =>
    [ep.slo.throughput.sustainedTokensPerSecond, ep.slo.throughput.burstTokensPerSecond]
      .filter((v): v is number => v !== undefined && effectiveRoundingStep(v, step) !== step)
      .map((v) => `${ep.name} ${v}→step ${effectiveRoundingStep(v, step)}`),
  );
  if (erased.length > 0)
    warn(
      'rounding_erases_target',
      ['calibration', 'rounding', 'throughput'],
      `rounding to the nearest ${step} tokens/s would erase targets below ${step / 2} tok/s; calibrate uses a finer step where needed (${erased.join(', ')})`,
      'a step is used only while it is at most 1/8 of the value; otherwise the largest 1-2-5 step that is (README: seed decisions)',
    );

  const rawLoad = raw.routing.load;
  const taskPriorities: Partial<Record<Task, Priority>> = {};
  for (const [t, priority] of Object.entries(rawLoad.priorities.tasks)) {
    const task = resolveTask(t);
    if (!task)
      error(
        'unknown_task',
        ['routing', 'load', 'priorities', 'tasks', t],
        `'${t}' is not a routing task`,
        `tasks are ${TASKS.join(', ')} and the aliases under routing.aliases`,
      );
    else taskPriorities[task] = priority;
  }
  if (rawLoad.scrapeInterval > 0 && rawLoad.staleAfter < rawLoad.scrapeInterval)
    error(
      'stale_before_scrape',
      ['routing', 'load', 'staleAfter'],
      `staleAfter (${rawLoad.staleAfter} ms) is shorter than scrapeInterval (${rawLoad.scrapeInterval} ms): every scrape would be stale`,
      'set staleAfter to 2–3 × scrapeInterval',
    );
  const loadRouting: LoadRouting = {
    policy: rawLoad.policy,
    headroom: rawLoad.headroom,
    batchHeadroom: Math.max(rawLoad.batchHeadroom, rawLoad.headroom),
    scrapeIntervalMs: rawLoad.scrapeInterval,
    staleAfterMs: rawLoad.staleAfter,
    admission: {
      mode: rawLoad.admission.mode,
      maxQueue: rawLoad.admission.maxQueue,
      ttlMs: rawLoad.admission.ttl,
    },
    taskPriorities,
    keyPriorities: rawLoad.priorities.keys,
  };

  if (errors.length > 0) throw new FleetValidationError(file, errors);

  const base: Fleet = {
    name: raw.name,
    description: raw.description,
    lastUpdated:
      raw.lastUpdated instanceof Date ? raw.lastUpdated.toISOString().slice(0, 10) : raw.lastUpdated,
    source: file,
    environment: 'development',
    hosts: Object.entries(raw.hosts).map(([name, h]) => ({ name, ...h })),
    endpoints,
    routing: { rules, defaultEndpoint: raw.routing.default, taskAliases, load: loadRouting },
    windows,
    calibration: {
      formula: raw.calibration.formula,
      warmupIterations: raw.calibration.warmup,
      iterations: raw.calibration.iterations,
      percentiles: raw.calibration.percentiles,
      safetyMargin: raw.calibration.safetyMargin,
      basePercentile: raw.calibration.base,
      networkOverheadMs: raw.calibration.networkOverhead,
      ttftRoundingMs: raw.calibration.rounding.ttft,
      throughputRoundingTokensPerSecond: raw.calibration.rounding.throughput,
      embeddingsRoundingPerSecond: raw.calibration.rounding.embeddings,
      promptTokens: raw.calibration.promptTokens,
      maxTokens: raw.calibration.maxTokens,
      embeddingBatchSize: raw.calibration.embeddingBatch,
      recordHardwareState: raw.calibration.recordHardwareState,
    },
    recalibration: {
      hardwareChange: raw.recalibration.hardwareChange,
      modelChange: raw.recalibration.modelChange,
      sustainedViolations: {
        rate: raw.recalibration.sustainedViolations.rate,
        windowMs: raw.recalibration.sustainedViolations.window,
        minRequests: raw.recalibration.sustainedViolations.minRequests,
      },
      optimizationWork: raw.recalibration.optimizationWork,
    },
    environments: {
      production: {
        tightenMin: raw.environments.production.tighten[0],
        tightenMax: raw.environments.production.tighten[1],
        // The least aggressive end of the stated range unless the file says otherwise.
        apply: raw.environments.production.apply ?? raw.environments.production.tighten[0],
      },
      degraded: {
        ttftFactorMin: raw.environments.degraded.ttftFactor[0],
        ttftFactorMax: raw.environments.degraded.ttftFactor[1],
        // The seed says "expect 2-4x": the upper end is what may be tolerated before alerting.
        apply: raw.environments.degraded.apply ?? raw.environments.degraded.ttftFactor[1],
      },
      ci: raw.environments.ci,
      cpuOnly: raw.environments['cpu-only'],
    },
    deprecated,
    gateway: {
      apiKeys: [
        ...raw.gateway.apiKeys.map((k) => (typeof k === 'string' ? k : k.key)),
        ...(env.LLM_FLEET_API_KEYS ?? '')
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean),
      ],
      keyLimits: raw.gateway.apiKeys.filter((k) => typeof k !== 'string'),
      ...(raw.gateway.rateLimit ? { rateLimit: raw.gateway.rateLimit } : {}),
      protectMetrics: raw.gateway.protectMetrics,
      protectHealth: raw.gateway.protectHealth,
      maxBodyBytes: raw.gateway.maxBodySize,
      retries: raw.gateway.retries,
      retry: {
        sameEndpointFirst: raw.gateway.retry.sameEndpointFirst,
        maxWaitMs: raw.gateway.retry.maxWait,
      },
      probeIntervalMs: raw.gateway.probeInterval,
    },
    warnings,
  };
  return deepFreeze(applyEnvironment(base, environment));
}

/**
 * The rounding step actually used for a throughput value. The requested step is used while it is
 * at most 1/8 of the value (so rounding moves a target by at most ~6%); otherwise the largest step
 * of the 1-2-5 series that is (80 → 10, 150 → 10, 40 → 5; 5000 at step 500 keeps 500).
 */
export function effectiveRoundingStep(value: number, requestedStep: number): number {
  const limit = value / 8;
  if (requestedStep <= limit) return requestedStep;
  let best = 1;
  for (let decade = 1; decade <= limit; decade *= 10) {
    for (const m of [1, 2, 5]) if (m * decade <= limit) best = m * decade;
  }
  return best;
}

function normaliseUrl(input: string): string {
  const url = new URL(input);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  return url.toString().replace(/\/+$/, '');
}

function known(names: readonly string[]): string {
  return `known: ${names.join(', ')}`;
}

const FIELD_NAMES = [
  'env',
  'apiKeyEnv',
  'host',
  'port',
  'status',
  'model',
  'servedModel',
  'models',
  'dialect',
  'kind',
  'hardware',
  'context',
  'notes',
  'fallbacks',
  'canContinue',
  'reasoning',
  'continueReasoning',
  'reasoningParser',
  'serverVersion',
  'maxBatchSize',
  'maxConcurrency',
  'maxQueue',
  'timeouts',
  'retry',
  'sameEndpointFirst',
  'maxWait',
  'slo',
  'sim',
  'faults',
  'startup',
  'ttft',
  'throughput',
  'availability',
  'recovery',
  'batchSize',
  'dimension',
  'sustained',
  'burst',
  'embeddingsPerSecond',
  'p95',
  'p99',
  'target',
  'window',
  'rules',
  'default',
  'aliases',
  'task',
  'tokens',
  'endpoint',
  'rationale',
  'warmup',
  'iterations',
  'safetyMargin',
  'rounding',
  'networkOverhead',
  'hosts',
  'endpoints',
  'routing',
  'calibration',
  'recalibration',
  'environments',
  'deprecated',
  'gateway',
  'windows',
  'address',
  'description',
];

/** A hint for a value of the wrong shape (zod says what it expected; say how to write it). */
function shapeHint(message: string, field: string | number | undefined): string | undefined {
  const name = field === undefined ? 'the value' : `'${String(field)}'`;
  if (/expected array/.test(message)) return `write ${name} as a list, e.g. [a, b] or one '- item' per line`;
  if (/expected boolean/.test(message)) return `write ${name} as true or false`;
  if (/expected number/.test(message)) return `write ${name} as a plain number`;
  if (/expected string/.test(message)) return `write ${name} as text (quote it if YAML reads it otherwise)`;
  if (/expected object/.test(message)) return `${name} is a section: indent its fields under it`;
  if (/expected (?:a )?(?:duration|percentage|token count)/.test(message))
    return 'see the value formats in the README (fleet file): 2000ms, 99.5%, 64K';
  return undefined;
}

function suggestField(key: string): string {
  // A key written into the file would be committed with it: name the variable instead.
  if (/^(?:api_?key|apikey|token|bearer)$/i.test(key))
    return `keys stay out of the fleet file: set apiKeyEnv: LLM_<NAME>_KEY and export that variable`;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of FIELD_NAMES) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best ? `did you mean '${best}'?` : `remove '${key}' or check the fleet file reference in the README`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Offset of the node at `path`, or of the closest ancestor that exists (for missing fields). */
function nodeOffset(doc: Document, path: readonly (string | number)[]): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = (doc.contents as Node | null)?.range?.[0];
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key),
      );
      if (!pair) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
      if (isScalar(node) || isSeq(node)) offset = (node as Node).range?.[0] ?? offset;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (!item) return offset;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
