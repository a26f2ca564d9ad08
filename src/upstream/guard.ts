// The guard that keeps llm-fleet's traffic where it belongs. Outbound connections go only to URLs
// the fleet file names (never to a URL taken from a request), and with LLM_FLEET_LOOPBACK_ONLY=1
// every connection to a non-loopback address fails at once with a clear error. Tests, CI and the
// demo set it, so the seed's 192.168.86.x addresses can never be contacted by accident.
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import { FleetError } from '../errors.ts';

export function loopbackOnly(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.LLM_FLEET_LOOPBACK_ONLY;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

export class LoopbackOnlyError extends FleetError {
  constructor(target: string) {
    super(
      'loopback_only',
      `refusing to connect to ${target}: LLM_FLEET_LOOPBACK_ONLY is set and it is not a loopback address`,
      {
        hint: 'point the endpoint at 127.0.0.1 with its env var (e.g. LLM_CODER_URL=http://127.0.0.1:8000) or run `llm-fleet sim`',
      },
    );
  }
}

/** Throws LoopbackOnlyError when the guard is on and `url` is not on loopback. */
export function assertOutboundAllowed(url: string | URL, env: NodeJS.ProcessEnv = process.env): void {
  if (!loopbackOnly(env)) return;
  const parsed = typeof url === 'string' ? new URL(url) : url;
  if (!isLoopbackHost(parsed.hostname)) throw new LoopbackOnlyError(parsed.host);
}

/**
 * An undici connector that enforces the guard at connection time, so no code path (redirects,
 * a forgotten check) can reach a non-loopback address while the guard is on.
 */
export function guardedConnector(
  options: buildConnector.BuildOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  connect: buildConnector.connector = buildConnector(options),
): buildConnector.connector {
  return (opts, callback) => {
    if (loopbackOnly(env) && !isLoopbackHost(opts.hostname)) {
      callback(new LoopbackOnlyError(`${opts.hostname}${opts.port ? `:${opts.port}` : ''}`), null);
      return;
    }
    connect(opts, callback);
  };
}
