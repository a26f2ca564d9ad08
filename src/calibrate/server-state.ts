// What the endpoint tells about itself, recorded with every calibration run: the fingerprint that
// later detects 'model swapped' and 'hardware changed'. Each server exposes different facts
// (wire-formats.md §2, §3.2, §3.7, §5.1, §6.2); whatever it does not answer stays undefined.
import type { Endpoint } from '../fleet/index.ts';
import type { Fingerprint } from '../slo/fingerprint.ts';
import type { HttpTarget } from './http.ts';
import { timedRequest } from './http.ts';

export interface LoadGauges {
  readonly kvCacheUsage?: number;
  readonly requestsRunning?: number;
  readonly requestsWaiting?: number;
}

export interface ServerFingerprint {
  readonly endpoint: string;
  readonly dialect: string;
  /** vLLM /version, TEI /info version, llama.cpp build from system_fingerprint. */
  readonly serverVersion?: string;
  /** Model ids the server lists. */
  readonly modelIds?: readonly string[];
  /** The id of the served model card (the one the fleet names, else the first; mlx_lm: exact match only). */
  readonly model?: string;
  /** vLLM `root` (model path), llama.cpp `model_path`, TEI `model_id`. */
  readonly modelRoot?: string;
  readonly contextWindowTokens?: number;
  /** `system_fingerprint` seen in the stream (llama.cpp build, mlx version and GPU arch). */
  readonly systemFingerprint?: string;
  readonly before?: LoadGauges;
  readonly after?: LoadGauges;
  /** Facts the fleet file states (hardware), for the record. */
  readonly hardware?: string;
  readonly note?: string;
  /** Which lookups failed, so an absent fact is not mistaken for a changed one. */
  readonly unavailable: readonly string[];
}

/** Reads vLLM's gauges from Prometheus text (summing over label sets). */
export function parseLoadGauges(metricsText: string): LoadGauges {
  const sum = (names: readonly string[]): number | undefined => {
    let total: number | undefined;
    for (const line of metricsText.split('\n')) {
      if (line.startsWith('#')) continue;
      const name = line.split(/[{ ]/, 1)[0];
      if (!names.includes(name ?? '')) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) total = (total ?? 0) + value;
    }
    return total;
  };
  return {
    kvCacheUsage: sum(['vllm:kv_cache_usage_perc']) ?? sum(['vllm:gpu_cache_usage_perc']),
    requestsRunning: sum(['vllm:num_requests_running']),
    requestsWaiting: sum(['vllm:num_requests_waiting']),
  };
}

interface ModelsJson {
  data?: {
    id?: unknown;
    root?: unknown;
    max_model_len?: unknown;
    meta?: { n_ctx?: unknown; n_ctx_train?: unknown };
  }[];
}

/** The static part of the fingerprint (before the measured iterations). */
export async function readServerFacts(
  endpoint: Endpoint,
  target: HttpTarget,
  timeoutMs = 5_000,
): Promise<Omit<ServerFingerprint, 'systemFingerprint' | 'after' | 'note'>> {
  const unavailable: string[] = [];
  const getJson = async <T>(path: string): Promise<T | undefined> => {
    const r = await timedRequest(target, 'GET', path, undefined, timeoutMs);
    if (!r.ok) {
      unavailable.push(path);
      return undefined;
    }
    try {
      return JSON.parse(r.text) as T;
    } catch {
      unavailable.push(path);
      return undefined;
    }
  };
  let serverVersion: string | undefined;
  let modelRoot: string | undefined;
  let contextWindowTokens: number | undefined;
  let modelIds: string[] | undefined;
  let model: string | undefined;
  if (endpoint.dialect !== 'tei') {
    const models = await getJson<ModelsJson>('/v1/models');
    const data = Array.isArray(models?.data) ? models.data : [];
    modelIds = data.map((m) => String(m.id));
    // mlx_lm lists cached repos, not necessarily the served one: only an exact match counts.
    const served =
      data.find((m) => m.id === endpoint.servedModel) ?? (endpoint.dialect === 'mlx' ? undefined : data[0]);
    if (typeof served?.id === 'string') model = served.id;
    if (typeof served?.root === 'string') modelRoot = served.root;
    if (typeof served?.max_model_len === 'number') contextWindowTokens = served.max_model_len;
    if (typeof served?.meta?.n_ctx === 'number') contextWindowTokens = served.meta.n_ctx;
  }
  if (endpoint.dialect === 'vllm') {
    const v = await getJson<{ version?: unknown }>('/version');
    if (typeof v?.version === 'string') serverVersion = v.version;
  }
  if (endpoint.dialect === 'llamacpp') {
    const props = await getJson<{
      model_path?: unknown;
      build_info?: unknown;
      default_generation_settings?: { n_ctx?: unknown };
    }>('/props');
    if (typeof props?.model_path === 'string') modelRoot = props.model_path;
    if (typeof props?.build_info === 'string') serverVersion = props.build_info;
    const nCtx = props?.default_generation_settings?.n_ctx;
    if (typeof nCtx === 'number') contextWindowTokens = nCtx;
  }
  if (endpoint.dialect === 'tei') {
    const info = await getJson<{ version?: unknown; model_id?: unknown; max_input_length?: unknown }>(
      '/info',
    );
    if (typeof info?.version === 'string') serverVersion = info.version;
    if (typeof info?.model_id === 'string') modelRoot = info.model_id;
    if (typeof info?.max_input_length === 'number') contextWindowTokens = info.max_input_length;
  }
  return {
    endpoint: endpoint.name,
    dialect: endpoint.dialect,
    serverVersion,
    modelIds,
    model,
    modelRoot,
    contextWindowTokens,
    before: await readLoadGauges(endpoint, target, timeoutMs),
    hardware: endpoint.hardware,
    unavailable,
  };
}

/** vLLM's running/waiting/KV-cache gauges; undefined for servers without them. */
export async function readLoadGauges(
  endpoint: Endpoint,
  target: HttpTarget,
  timeoutMs = 5_000,
): Promise<LoadGauges | undefined> {
  if (endpoint.dialect !== 'vllm') return undefined;
  const r = await timedRequest(target, 'GET', '/metrics', undefined, timeoutMs);
  return r.ok ? parseLoadGauges(r.text) : undefined;
}

/**
 * The fingerprint in the form the SLO evaluator compares (slo/fingerprint.ts), written exactly as
 * the monitor writes what it observes, so a difference means the server changed, not the writer.
 */
export function sloFingerprint(f: ServerFingerprint, hostHardware: string, atMs: number): Fingerprint {
  const product =
    f.dialect === 'vllm'
      ? 'vllm'
      : f.dialect === 'llamacpp'
        ? 'llama.cpp'
        : f.dialect === 'tei'
          ? 'tei'
          : undefined;
  const out: { -readonly [K in keyof Fingerprint]?: Fingerprint[K] } = {
    endpoint: f.endpoint,
    atMs,
    hostHardware,
  };
  if (f.model !== undefined) out.model = f.model;
  if (f.contextWindowTokens !== undefined && f.dialect !== 'mlx') out.maxModelLen = f.contextWindowTokens;
  if (f.serverVersion !== undefined && product !== undefined)
    out.serverVersion = `${product} ${f.serverVersion}`;
  if (f.systemFingerprint !== undefined) out.systemFingerprint = f.systemFingerprint;
  return out as Fingerprint;
}
