// Environment adjustments from the seed, applied to the effective targets:
// production tightens latency targets (and raises throughput floors) by the stated share;
// degraded mode multiplies TTFT targets on the affected host; CI keeps the targets but marks
// performance objectives as never failing (the seed: "skip perf assertions").
import type { EndpointSlo, EnvironmentName, Fleet } from './types.ts';

export function applyEnvironment(
  fleet: Fleet,
  environment: EnvironmentName,
  degradedHosts?: readonly string[],
): Fleet {
  const { production, degraded } = fleet.environments;
  const endpoints = fleet.endpoints.map((endpoint) => {
    let slo = endpoint.baseSlo;
    if (environment === 'production') slo = tighten(slo, production.apply);
    if (environment === 'degraded' && (degradedHosts === undefined || degradedHosts.includes(endpoint.host)))
      slo = degradeTtft(slo, degraded.apply);
    return slo === endpoint.slo && environment === fleet.environment ? endpoint : { ...endpoint, slo };
  });
  return { ...fleet, environment, endpoints };
}

/** Latency targets × (1 − share); throughput floors × (1 + share). Availability is unchanged. */
export function tighten(slo: EndpointSlo, share: number): EndpointSlo {
  const t = slo.throughput;
  return {
    ...slo,
    ttft: slo.ttft && {
      p95Ms: round(slo.ttft.p95Ms * (1 - share)),
      p99Ms: round(slo.ttft.p99Ms * (1 - share)),
    },
    throughput: {
      ...t,
      sustainedTokensPerSecond: t.sustainedTokensPerSecond && round(t.sustainedTokensPerSecond * (1 + share)),
      burstTokensPerSecond: t.burstTokensPerSecond && round(t.burstTokensPerSecond * (1 + share)),
      embeddingsPerSecond: t.embeddingsPerSecond && round(t.embeddingsPerSecond * (1 + share)),
    },
  };
}

/** TTFT targets × factor (the seed's "expect 2–4x TTFT degradation on affected host"). */
export function degradeTtft(slo: EndpointSlo, factor: number): EndpointSlo {
  return slo.ttft
    ? { ...slo, ttft: { p95Ms: slo.ttft.p95Ms * factor, p99Ms: slo.ttft.p99Ms * factor } }
    : slo;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
