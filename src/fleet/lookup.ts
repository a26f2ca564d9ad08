// Small lookups over a Fleet used by every command.
import { FleetError } from '../errors.ts';
import type { Endpoint, Fleet, Host } from './types.ts';

export function routableEndpoints(fleet: Fleet): Endpoint[] {
  return fleet.endpoints.filter((e) => e.status === 'running' && e.url !== undefined);
}

export function endpointByName(fleet: Fleet, name: string): Endpoint | undefined {
  return fleet.endpoints.find((e) => e.name === name);
}

/** By endpoint name, env var, served model id or inventory model name. */
export function findEndpoint(fleet: Fleet, key: string): Endpoint | undefined {
  return fleet.endpoints.find(
    (e) => e.name === key || e.env === key || e.servedModel === key || e.model === key,
  );
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
