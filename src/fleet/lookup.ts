// Small lookups over a Fleet used by every command.
import { FleetError } from '../errors.ts';
import type { Endpoint, Fleet, Host } from './types.ts';

export function routableEndpoints(fleet: Fleet): Endpoint[] {
  return fleet.endpoints.filter((e) => e.status === 'running' && e.url !== undefined);
}

export function endpointByName(fleet: Fleet, name: string): Endpoint | undefined {
  return fleet.endpoints.find((e) => e.name === name);
}

/** By endpoint name, env var, served model id (any of `models`) or inventory model name. */
export function findEndpoint(fleet: Fleet, key: string): Endpoint | undefined {
  return fleet.endpoints.find(
    (e) => e.name === key || e.env === key || e.model === key || servesModel(e, key),
  );
}

/** Whether the endpoint's server answers to this model id. */
export function servesModel(endpoint: Endpoint, id: string): boolean {
  return endpoint.servedModel === id || (endpoint.servedModels?.includes(id) ?? false);
}

/**
 * The model id to send upstream: the one the client named when this endpoint serves it (one of its
 * `models`), otherwise the endpoint's own `servedModel` (a fallback serves its own model).
 */
export function upstreamModel(endpoint: Endpoint, requested: unknown): string {
  return typeof requested === 'string' && servesModel(endpoint, requested) ? requested : endpoint.servedModel;
}

export function hostOf(fleet: Fleet, endpoint: Endpoint): Host {
  const host = fleet.hosts.find((h) => h.name === endpoint.host);
  if (!host)
    throw new FleetError('unknown_host', `endpoint ${endpoint.name} names unknown host ${endpoint.host}`);
  return host;
}

/** --fleet, else LLM_FLEET_FILE, else ./fleet.yaml. */
export function defaultFleetPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env.LLM_FLEET_FILE ?? 'fleet.yaml';
}

/**
 * The health-check URL of an endpoint (the seed's `curl -s http://host:port/health`). Every dialect
 * in the fleet serves /health; the base URL may carry a path prefix (/v1 is common).
 */
export function healthUrl(endpoint: Endpoint): string {
  const base = new URL(endpoint.url ?? 'http://invalid');
  const prefix = base.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${base.origin}${prefix}/health`;
}
