// `--workers N` without Redis: the primary process holds the one in-process backend and the
// workers reach it over node:cluster IPC, so N workers keep one breaker, one slot count and one
// bucket per key between them — never one per worker. Every backend call is one message and its
// reply; events go to every worker. A worker that exits gives back what it held.
import type { Cluster, Worker } from 'node:cluster';
import { MemoryBackend } from './memory-backend.ts';
import type * as T from './types.ts';

const TAG = 'llm-fleet-state';

type Op = 'admit' | 'finish' | 'leaveQueue' | 'settle' | 'leases' | 'publish' | 'heartbeat' | 'usage';

interface CallMessage {
  readonly tag: typeof TAG;
  readonly kind: 'call';
  readonly id: number;
  readonly op: Op;
  readonly args: unknown[];
}

interface ReplyMessage {
  readonly tag: typeof TAG;
  readonly kind: 'reply';
  readonly id: number;
  readonly value?: unknown;
  readonly error?: string;
}

interface EventMessage {
  readonly tag: typeof TAG;
  readonly kind: 'event';
  readonly event: T.StateEvent;
}

type Message = CallMessage | ReplyMessage | EventMessage;

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && (m as { tag?: unknown }).tag === TAG;
}

/** In the primary: answer the workers' calls from one in-process backend. Returns a stop function. */
export function serveStateOverIpc(cluster: Cluster, backend: MemoryBackend): () => void {
  const replicasOf = new Map<number, Set<string>>();
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message) || message.kind !== 'call') return;
    const args = message.args;
    const first = args[0] as { replica?: string } | string | undefined;
    const replica = typeof first === 'string' ? first : first?.replica;
    if (replica) {
      let set = replicasOf.get(worker.id);
      if (!set) replicasOf.set(worker.id, (set = new Set()));
      set.add(replica);
    }
    const call = (backend[message.op] as (...a: unknown[]) => Promise<unknown>).apply(backend, args);
    call.then(
      (value) => worker.isConnected() && worker.send({ tag: TAG, kind: 'reply', id: message.id, value }),
      (error: unknown) =>
        worker.isConnected() &&
        worker.send({ tag: TAG, kind: 'reply', id: message.id, error: String(error) }),
    );
  };
  const onExit = (worker: Worker): void => {
    for (const r of replicasOf.get(worker.id) ?? []) backend.dropReplica(r);
    replicasOf.delete(worker.id);
  };
  const unsubscribe = backend.subscribe((event) => {
    for (const w of Object.values(cluster.workers ?? {}))
      if (w?.isConnected()) w.send({ tag: TAG, kind: 'event', event });
  });
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return () => {
    unsubscribe();
    cluster.off('message', onMessage);
    cluster.off('exit', onExit);
  };
}

/** In a worker: the primary's backend, one IPC message per call. */
export class IpcBackend implements T.StateBackend {
  readonly mode = 'ipc' as const;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(event: T.StateEvent) => void>();
  private readonly onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.kind === 'event') {
      for (const l of this.listeners) l(message.event);
      return;
    }
    if (message.kind !== 'reply') return;
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    if (message.error !== undefined) p.reject(new Error(message.error));
    else p.resolve(message.value);
  };

  constructor() {
    if (!process.send) throw new Error('IpcBackend needs an IPC channel (a node:cluster worker)');
    process.on('message', this.onMessage);
  }

  private call<T>(op: Op, ...args: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const message: CallMessage = { tag: TAG, kind: 'call', id, op, args };
      process.send?.(message, undefined, undefined, (error: Error | null) => {
        if (error) {
          this.pending.delete(id);
          reject(error);
        }
      });
    });
  }

  admit(request: T.AdmitRequest): Promise<T.AdmitReply> {
    return this.call('admit', request);
  }
  finish(request: T.FinishRequest): Promise<T.FinishReply> {
    return this.call('finish', request);
  }
  leaveQueue(replica: string, endpoint: string): Promise<void> {
    return this.call('leaveQueue', replica, endpoint);
  }
  settle(settlements: readonly T.Settlement[]): Promise<void> {
    return this.call('settle', settlements);
  }
  leases(replica: string, endpoints: readonly string[], ttlMs: number): Promise<readonly string[]> {
    return this.call('leases', replica, endpoints, ttlMs);
  }
  publish(event: T.StateEvent): Promise<void> {
    return this.call('publish', event);
  }
  heartbeat(holdings: T.ReplicaHoldings): Promise<T.HeartbeatReply> {
    return this.call('heartbeat', holdings);
  }
  usage(
    endpoints: readonly string[],
  ): Promise<Readonly<Record<string, { inFlight: number; queued: number }>>> {
    return this.call('usage', endpoints);
  }
  subscribe(listener: (event: T.StateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  close(): Promise<void> {
    process.off('message', this.onMessage);
    for (const p of this.pending.values()) p.reject(new Error('closed'));
    this.pending.clear();
    return Promise.resolve();
  }
}
