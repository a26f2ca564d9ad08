// The fleet file's shape (zod). Units are parsed here, so the rest of the code sees numbers with
// their unit in the field name. Unknown keys are errors: a typo must not silently drop a target.
import { z } from 'zod';
import type { Parsed } from './units.ts';
import {
  parseClock,
  parseDay,
  parseDuration,
  parsePercent,
  parsePositiveNumber,
  parseRange,
  parseTokenCount,
} from './units.ts';

function unit<T>(parse: (v: unknown) => Parsed<T>) {
  return z.unknown().transform((value, ctx): T => {
    const parsed = parse(value);
    if (parsed.ok) return parsed.value;
    ctx.addIssue({ code: 'custom', message: `expected ${parsed.expected}, got ${JSON.stringify(value)}` });
    return z.NEVER;
  });
}

const duration = unit(parseDuration);
const percent = unit(parsePercent);
const tokenCount = unit(parseTokenCount);
const positive = unit(parsePositiveNumber);
const name = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lowercase name like coder-fast');
const envVar = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name like LLM_CODER_URL');

const host = z.strictObject({
  address: z.string().min(1),
  description: z.string().default(''),
  hardware: z.string().default(''),
});

const window = z.strictObject({
  days: z.array(unit(parseDay)).min(1),
  start: unit(parseClock),
  end: unit(parseClock),
  timezone: z.string().refine(isTimeZone, 'expected an IANA time zone, e.g. America/Los_Angeles'),
});

const availability = z.strictObject({
  // `best-effort` or a percentage.
  target: z.union([z.literal('best-effort'), percent]),
  window: z.string().default('always'),
  note: z.string().optional(),
});

export const sloSchema = z.strictObject({
  ttft: z.strictObject({ p95: duration, p99: duration }).optional(),
  throughput: z
    .strictObject({
      sustained: positive.optional(),
      burst: positive.optional(),
      embeddingsPerSecond: positive.optional(),
      note: z.string().optional(),
    })
    .prefault({}),
  availability: availability.prefault({ target: 'best-effort', window: 'always' }),
  recovery: duration.optional(),
  batchSize: z.number().int().positive().optional(),
  dimension: z.number().int().positive().optional(),
});

// Plain integers: '100K' means 102400 for a context window, and an allowance must not guess.
const keyLimit = z.strictObject({
  requestsPerMinute: z.number().int().positive().optional(),
  tokensPerMinute: z.number().int().positive().optional(),
});
const keyWithLimit = keyLimit.extend({
  key: z.string().min(8),
  /** Shown in errors and metrics instead of the key. */
  name: z.string().min(1).optional(),
});

const timeouts = z.strictObject({
  connect: duration.optional(),
  ttft: duration.optional(),
  idle: duration.optional(),
  total: duration.optional(),
});

// Retry on the preferred endpoint: one retry there, before failing over, when the wait is short.
const sameEndpointRetry = z.strictObject({
  sameEndpointFirst: z.boolean().optional(),
  maxWait: duration.optional(),
});

const endpoint = z.strictObject({
  env: envVar,
  // The variable holding the key the gateway presents upstream (vLLM/llama.cpp/TEI --api-key), so
  // the key itself never sits in the fleet file.
  apiKeyEnv: envVar.optional(),
  host: name,
  port: z.union([z.number().int().min(1).max(65535), z.literal('TBD')]),
  status: z.enum(['running', 'planned']).default('running'),
  model: z.string().min(1),
  servedModel: z.string().optional(),
  // Further model ids the same server answers to (a llama.cpp router, mlx_lm loading by name,
  // vLLM LoRA adapters): a request naming one goes here and keeps that id upstream.
  models: z.array(z.string().min(1)).default([]),
  dialect: z.enum(['vllm', 'mlx', 'llamacpp', 'tei']).default('vllm'),
  kind: z.enum(['chat', 'embeddings']).default('chat'),
  hardware: z.string().optional(),
  context: tokenCount.optional(),
  notes: z.string().optional(),
  fallbacks: z.array(name).default([]),
  canContinue: z.boolean().optional(),
  reasoning: z.boolean().default(false),
  // Whether a partial answer cut inside or after its reasoning may be continued here (default: the
  // dialect's; llama.cpp does it with thinking off, see continuation.ts).
  continueReasoning: z.boolean().optional(),
  // vLLM's --reasoning-parser (qwen3, deepseek_r1, …) and the server's version: together they say
  // how the server splits a continued answer into reasoning and content.
  reasoningParser: z.string().min(1).optional(),
  serverVersion: z.string().min(1).optional(),
  maxBatchSize: z.number().int().positive().optional(),
  maxConcurrency: z.number().int().positive().default(64),
  maxQueue: z.number().int().nonnegative().default(256),
  timeouts: timeouts.prefault({}),
  retry: sameEndpointRetry.optional(),
  // A replica pool: further servers of the same model (URLs), balanced by load with prefix-cache
  // affinity; host:port stays the first replica. affinity tunes the bounded-load hashing.
  replicas: z.array(z.string().min(1)).default([]),
  affinity: z
    .union([
      z.literal(false),
      z.strictObject({
        loadFactor: z.number().min(1).default(1.25),
        prefixChars: z.number().int().positive().default(1024),
      }),
    ])
    .optional(),
  // Without targets the endpoint is measured and never judged.
  slo: sloSchema.optional(),
  // How `llm-fleet sim` runs this endpoint: faults (the simulator's syntax, e.g. '503:first=2')
  // and a loading phase at start-up.
  sim: z
    .strictObject({
      faults: z.union([z.string(), z.array(z.string())]).optional(),
      startup: duration.optional(),
      // The simulated engine's batching (README, sim): running cap, step token budget, KV cache.
      maxNumSeqs: z.number().int().positive().optional(),
      maxNumBatchedTokens: tokenCount.optional(),
      kvCacheTokens: tokenCount.optional(),
      blockSize: z.number().int().positive().optional(),
      prefillStepSize: tokenCount.optional(),
      promptConcurrency: z.number().int().positive().optional(),
      maxBatchTokens: tokenCount.optional(),
    })
    .optional(),
});

const tokenCondition = z.string().transform((value, ctx): { min?: number; max?: number; label: string } => {
  const text = value.trim();
  if (/^any$/i.test(text)) return { label: 'Any' };
  const match = /^(>|>=|<|<=)\s*(\d[\d_]*)$/.exec(text.replace(/,/g, ''));
  if (!match) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a token condition like '> 40000', '<= 40000' or 'any'`,
    });
    return z.NEVER;
  }
  const n = Number(match[2]!.replace(/_/g, ''));
  switch (match[1]) {
    case '>':
      return { min: n, label: text };
    case '>=':
      return { min: n - 1, label: text };
    case '<':
      return { max: n - 1, label: text };
    default:
      return { max: n, label: text };
  }
});

const rule = z.strictObject({
  task: z.string().min(1),
  tokens: tokenCondition.prefault('any'),
  // Plain strings (not names) so that a rule naming a deprecated variable gets its own error.
  endpoint: z.string().min(1),
  fallbacks: z.array(z.string().min(1)).default([]),
  rationale: z.string().default(''),
});

export const fleetSchema = z.strictObject({
  version: z.literal(1),
  name: z.string().min(1),
  description: z.string().optional(),
  lastUpdated: z.union([z.string(), z.date()]).optional(),
  hosts: z.record(name, host),
  windows: z.record(name, window).prefault({}),
  endpoints: z.record(name, endpoint),
  routing: z.strictObject({
    rules: z.array(rule).min(1),
    default: z.string().min(1),
    aliases: z.record(z.string(), z.string()).prefault({}),
    load: z
      .strictObject({
        policy: z.enum(['static', 'slo', 'least-busy']).default('slo'),
        headroom: percent.prefault('10%'),
        batchHeadroom: percent.prefault('30%'),
        scrapeInterval: duration.prefault('1s'),
        staleAfter: duration.prefault('3s'),
        admission: z
          .strictObject({
            mode: z.enum(['queue', 'shed']).default('queue'),
            maxQueue: z.number().int().nonnegative().default(256),
            ttl: duration.prefault('10s'),
          })
          .prefault({}),
        priorities: z
          .strictObject({
            tasks: z.record(z.string(), z.enum(['interactive', 'batch'])).prefault({}),
            keys: z.record(z.string(), z.enum(['interactive', 'batch'])).prefault({}),
          })
          .prefault({}),
      })
      .prefault({}),
  }),
  calibration: z
    .strictObject({
      formula: z.string().default('threshold = (base_operation_time + network_overhead) * safety_margin'),
      warmup: z.number().int().nonnegative().default(50),
      iterations: z.number().int().positive().default(200),
      percentiles: z.array(z.number().positive().max(100)).default([50, 95, 99]),
      safetyMargin: positive.prefault(2),
      base: z.enum(['same', 'p99']).default('same'),
      networkOverhead: z
        .strictObject({ min: duration, max: duration })
        .prefault({ min: '10ms', max: '25ms' }),
      rounding: z
        .strictObject({
          ttft: duration.prefault('100ms'),
          throughput: positive.prefault(500),
          embeddings: positive.prefault(500),
        })
        .prefault({ ttft: '100ms', throughput: 500, embeddings: 500 }),
      promptTokens: z.number().int().positive().default(512),
      maxTokens: z.number().int().positive().default(256),
      embeddingBatch: z.number().int().positive().default(32),
      recordHardwareState: z.boolean().default(true),
    })
    .prefault({}),
  recalibration: z
    .strictObject({
      hardwareChange: z.boolean().default(true),
      modelChange: z.boolean().default(true),
      sustainedViolations: z
        .strictObject({
          rate: percent,
          window: duration.prefault('1h'),
          minRequests: z.number().int().positive().default(100),
        })
        .prefault({ rate: '5%', window: '1h', minRequests: 100 }),
      optimizationWork: z.boolean().default(true),
    })
    .prefault({}),
  environments: z
    .strictObject({
      production: z
        .strictObject({ tighten: unit((v) => parseRange(v, parsePercent)), apply: percent.optional() })
        .prefault({ tighten: '30%..50%' }),
      ci: z
        .strictObject({
          simulated: z.boolean().default(true),
          skipPerformanceAssertions: z.boolean().default(true),
        })
        .prefault({}),
      degraded: z
        .strictObject({
          ttftFactor: unit((v) => parseRange(v, parsePositiveNumber)),
          apply: positive.optional(),
        })
        .prefault({ ttftFactor: '2..4' }),
      'cpu-only': z
        .strictObject({
          applicable: z.boolean().default(false),
          note: z.string().default('use remote endpoints'),
        })
        .prefault({}),
    })
    .prefault({}),
  deprecated: z
    .array(
      z.strictObject({
        env: envVar,
        url: z.string().url(),
        status: z.string().default('Decommissioned — do not use'),
        replacements: z.array(name).default([]),
        note: z.string().optional(),
      }),
    )
    .default([]),
  gateway: z
    .strictObject({
      // A key alone, or a key with its own per-minute allowance (429 + Retry-After beyond it).
      apiKeys: z.array(z.union([z.string().min(8), keyWithLimit])).default([]),
      // The allowance of every key without its own (and of all clients when no key is set).
      rateLimit: keyLimit.optional(),
      protectMetrics: z.boolean().default(false),
      protectHealth: z.boolean().default(false),
      maxBodySize: z
        .number()
        .int()
        .positive()
        .default(8 * 1024 * 1024),
      retries: z.number().int().nonnegative().default(2),
      retry: z
        .strictObject({ sameEndpointFirst: z.boolean().default(true), maxWait: duration.prefault('2s') })
        .prefault({}),
      probeInterval: duration.prefault('15s'),
    })
    .prefault({}),
});

export type FleetFile = z.output<typeof fleetSchema>;
export type EndpointFile = FleetFile['endpoints'][string];

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
