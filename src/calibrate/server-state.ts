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
  /** llama.cpp: slots busy and slots in all (`/slots`; `/health` in builds before b3590). */
  readonly slotsProcessing?: number;
  readonly slotsTotal?: number;
  /** Where the load figures were read (`/metrics`, `/slots`, `/health`). */
  readonly from?: string;
  /** Lookups that failed, with the status (e.g. `/slots (501)`). */
  readonly unavailable?: readonly string[];
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
  /** llama.cpp `/props` total_slots (`--parallel`). */
  readonly totalSlots?: number;
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
      unavailable.push(r.status === undefined ? path : `${path} (${r.status})`);
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
  let totalSlots: number | undefined;
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
      total_slots?: unknown;
      default_generation_settings?: { n_ctx?: unknown };
    }>('/props');
    if (typeof props?.model_path === 'string') modelRoot = props.model_path;
    if (typeof props?.total_slots === 'number') totalSlots = props.total_slots;
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
  const before = await readLoadGauges(endpoint, target, timeoutMs);
  unavailable.push(...(before?.unavailable ?? []));
  if (endpoint.dialect === 'mlx') unavailable.push('load state (mlx_lm exposes none)');
  return {
    endpoint: endpoint.name,
    dialect: endpoint.dialect,
    serverVersion,
    modelIds,
    model,
    modelRoot,
    contextWindowTokens,
    totalSlots,
    before,
    hardware: endpoint.hardware,
    unavailable,
  };
}

/**
 * The server's load before or after the run: vLLM's running/waiting/KV-cache gauges from /metrics;
 * llama.cpp's busy slots from /slots (on unless --no-slots), or from /health in builds before
 * b3590. Undefined for servers that expose neither (mlx_lm, TEI); failed lookups are listed.
 */
export async function readLoadGauges(
  endpoint: Endpoint,
  target: HttpTarget,
  timeoutMs = 5_000,
): Promise<LoadGauges | undefined> {
  const missing = (path: string, status: number | undefined): string =>
    status === undefined ? path : `${path} (${status})`;
  if (endpoint.dialect === 'vllm') {
    const r = await timedRequest(target, 'GET', '/metrics', undefined, timeoutMs);
    return r.ok
      ? { ...parseLoadGauges(r.text), from: '/metrics' }
      : { unavailable: [missing('/metrics', r.status)] };
  }
  if (endpoint.dialect !== 'llamacpp') return undefined;
  const unavailable: string[] = [];
  const slots = await timedRequest(target, 'GET', '/slots', undefined, timeoutMs);
  if (slots.ok) {
    const parsed = parseSlots(slots.text);
    if (parsed) return { ...parsed, from: '/slots' };
  }
  unavailable.push(missing('/slots', slots.status));
  const health = await timedRequest(target, 'GET', '/health', undefined, timeoutMs);
  try {
    const h = JSON.parse(health.text) as { slots_idle?: unknown; slots_processing?: unknown };
    if (typeof h.slots_idle === 'number' && typeof h.slots_processing === 'number')
      return {
        slotsProcessing: h.slots_processing,
        slotsTotal: h.slots_idle + h.slots_processing,
        from: '/health',
        unavailable,
      };
  } catch {
    // no JSON body: nothing to read
  }
  unavailable.push('slot counts in /health (builds since b3590 have none)');
  return { unavailable };
}

/** llama.cpp /slots: an array of slots, busy when `is_processing` (or `state` ≠ 0 before b4034). */
export function parseSlots(text: string): Pick<LoadGauges, 'slotsProcessing' | 'slotsTotal'> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const busy = parsed.filter((s: { is_processing?: unknown; state?: unknown } | null) =>
    s?.is_processing !== undefined ? s.is_processing === true : typeof s?.state === 'number' && s.state !== 0,
  ).length;
  return { slotsProcessing: busy, slotsTotal: parsed.length };
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
