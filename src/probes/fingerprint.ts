// What an endpoint reports about itself now — model id, context length, server version — read the
// way each server exposes it (wire-formats §2 and §10.5): vLLM /version + /v1/models
// (max_model_len), llama.cpp /v1/models + /props (n_ctx, build_info), TEI /info, mlx_lm /v1/models
// (no context, no version). Compared with the fingerprint calibrate recorded, a difference is a
// recalibration trigger. Best effort: a field that cannot be read is left out, never guessed.
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import type { Endpoint, Fleet } from '../fleet/index.ts';
import { upstreamAuthHeaders } from '../upstream/auth.ts';
import type { Fingerprint } from '../slo/fingerprint.ts';
import { hardwareDescription } from '../slo/fingerprint.ts';
import { createProbeDispatcher } from './health.ts';

export interface FingerprintOptions {
  readonly timeoutMs: number;
  readonly dispatcher?: Dispatcher;
  readonly clock?: () => number;
}

function apiUrl(endpoint: Endpoint, path: string): string {
  const base = new URL(endpoint.url ?? 'http://invalid');
  const prefix = base.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${base.origin}${prefix}${path}`;
}

async function getJson(
  endpoint: Endpoint,
  path: string,
  dispatcher: Dispatcher,
  timeoutMs: number,
): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await request(apiUrl(endpoint, path), {
      method: 'GET',
      headers: upstreamAuthHeaders(endpoint),
      dispatcher,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) return undefined;
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The model card serving this endpoint: the one named like its served model, else the first. */
function modelCard(
  models: Record<string, unknown> | undefined,
  endpoint: Endpoint,
): Record<string, unknown> | undefined {
  const data = Array.isArray(models?.data) ? (models.data as Record<string, unknown>[]) : [];
  return data.find((m) => m.id === endpoint.servedModel) ?? data[0];
}

export async function observeFingerprint(
  fleet: Fleet,
  endpoint: Endpoint,
  options: FingerprintOptions,
): Promise<Fingerprint> {
  const atMs = (options.clock ?? Date.now)();
  const hostHardware = hardwareDescription(fleet, endpoint);
  const base: Fingerprint = { endpoint: endpoint.name, atMs, hostHardware };
  if (!endpoint.url) return base;
  const own = options.dispatcher ? undefined : createProbeDispatcher(options.timeoutMs);
  const d = options.dispatcher ?? (own as Dispatcher);
  const t = options.timeoutMs;
  try {
    switch (endpoint.dialect) {
      case 'vllm': {
        const [version, models] = await Promise.all([
          getJson(endpoint, '/version', d, t),
          getJson(endpoint, '/v1/models', d, t),
        ]);
        const card = modelCard(models, endpoint);
        return compact({
          ...base,
          model: str(card?.id),
          maxModelLen: int(card?.max_model_len),
          serverVersion: str(version?.version) ? `vllm ${str(version?.version)}` : undefined,
        });
      }
      case 'llamacpp': {
        const [models, props] = await Promise.all([
          getJson(endpoint, '/v1/models', d, t),
          getJson(endpoint, '/props', d, t),
        ]);
        const card = modelCard(models, endpoint);
        const meta = card?.meta as Record<string, unknown> | undefined;
        const settings = props?.default_generation_settings as Record<string, unknown> | undefined;
        const build = str(props?.build_info);
        return compact({
          ...base,
          model: str(card?.id),
          maxModelLen: int(meta?.n_ctx) ?? int(settings?.n_ctx),
          serverVersion: build ? `llama.cpp ${build}` : undefined,
        });
      }
      case 'tei': {
        const info = await getJson(endpoint, '/info', d, t);
        const version = str(info?.version);
        return compact({
          ...base,
          model: str(info?.served_model_name) ?? str(info?.model_id),
          maxModelLen: int(info?.max_input_length),
          serverVersion: version ? `tei ${version}` : undefined,
        });
      }
      case 'mlx': {
        // mlx_lm lists cached repos, not necessarily the served one: only trust an exact match.
        const models = await getJson(endpoint, '/v1/models', d, t);
        const data = Array.isArray(models?.data) ? (models.data as Record<string, unknown>[]) : [];
        const served = data.find((m) => m.id === endpoint.servedModel);
        return compact({ ...base, model: str(served?.id) });
      }
      default:
        return base;
    }
  } finally {
    if (own) void own.close().catch(() => undefined);
  }
}

function compact(f: { [K in keyof Fingerprint]: Fingerprint[K] | undefined }): Fingerprint {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined)) as unknown as Fingerprint;
}
