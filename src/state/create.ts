// Choosing the shared state at start-up: `--state` absent or `memory` is in-process (the embedded
// default, no server needed); `redis://host:port` (or rediss://) shares it with every replica
// pointed at the same Redis.
import { FleetError } from '../errors.ts';
import type { Fleet } from '../fleet/index.ts';
import { DEFAULT_BREAKER, type BreakerOptions } from './circuit-breaker.ts';
import { describeRedisUrl, RedisBackend } from './redis-backend.ts';
import { SharedState } from './shared-state.ts';
import type { StateBackend } from './types.ts';

export interface CreateStateOptions {
  /** `memory` (default) or a redis:// URL. */
  readonly state?: string;
  readonly breaker?: Partial<BreakerOptions>;
  /** Longest a request waits on Redis (default 50 ms). */
  readonly timeoutMs?: number;
  readonly heartbeatMs?: number;
  readonly lostAfter?: number;
  readonly queuePollMs?: number;
  readonly probeLeaseMs?: number;
  readonly replica?: string;
  /** A backend built elsewhere (the IPC client of a cluster worker). */
  readonly backend?: StateBackend;
}

export function isRedisUrl(value: string): boolean {
  return /^rediss?:\/\//i.test(value);
}

/** Builds and starts the state; with Redis it waits (bounded) for the first heartbeat. */
export async function createSharedState(
  fleet: Fleet,
  options: CreateStateOptions = {},
): Promise<SharedState> {
  const breaker: BreakerOptions = { ...DEFAULT_BREAKER, ...options.breaker };
  const probeLeaseMs =
    options.probeLeaseMs ?? Math.max(10_000, ...fleet.endpoints.map((e) => e.timeouts.totalTimeoutMs));
  const common = {
    breaker,
    probeLeaseMs,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.lostAfter !== undefined ? { lostAfter: options.lostAfter } : {}),
    ...(options.queuePollMs !== undefined ? { queuePollMs: options.queuePollMs } : {}),
    ...(options.replica !== undefined ? { replica: options.replica } : {}),
  };
  const where = options.state?.trim() ?? 'memory';
  let backend = options.backend;
  let describe: string | undefined;
  if (!backend && where !== 'memory' && where !== '') {
    if (!isRedisUrl(where)) {
      throw new FleetError('bad_state', `--state ${where}: expected 'memory' or a redis://host:port URL`, {
        hint: 'e.g. --state redis://127.0.0.1:6379 (every replica pointed at the same Redis shares its state)',
      });
    }
    const redis = new RedisBackend({
      url: where,
      fleet: fleet.name,
      endpoints: fleet.endpoints.map((e) => e.name),
      breaker,
      probeLeaseMs,
    });
    redis.start();
    backend = redis;
    describe = describeRedisUrl(where);
  }
  const state = new SharedState({
    ...common,
    ...(backend ? { backend } : {}),
    ...(describe ? { describe } : {}),
  });
  await state.start();
  return state;
}
