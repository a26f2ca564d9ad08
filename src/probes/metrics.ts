// The monitor's Prometheus metrics, on a registry it is given (the gateway passes its own so one
// /metrics shows everything). A metric the gateway already registered under the same name is
// reused rather than registered twice.
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { METRICS } from '../measure/metric-names.ts';

export interface MonitorMetrics {
  readonly up: Gauge;
  readonly downSeconds: Gauge;
  readonly probes: Counter;
  /** Each replica's own probes (a pool's verdict is counted in `probes`). */
  readonly replicaProbes: Counter;
  readonly sloEvents: Counter;
  readonly recoveryEpisodes: Counter;
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[]): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export function monitorMetrics(registry: Registry): MonitorMetrics {
  return {
    up: gauge(registry, METRICS.endpointUp, '1 when the endpoint is up, 0 when down', ['endpoint', 'host']),
    downSeconds: gauge(
      registry,
      METRICS.endpointDownSeconds,
      'Seconds the endpoint has been down in the current streak (0 when up)',
      ['endpoint'],
    ),
    probes: counter(
      registry,
      METRICS.probes,
      'Active probes by endpoint, kind and result (ok, fail, or saturated: a busy engine, not an outage)',
      ['endpoint', 'kind', 'result'],
    ),
    replicaProbes: counter(
      registry,
      'llm_fleet_replica_probes_total',
      "Active probes of each replica of a pool, by kind and result (the pool's verdict is in llm_fleet_probes_total)",
      ['endpoint', 'replica', 'kind', 'result'],
    ),
    sloEvents: counter(
      registry,
      METRICS.sloEvents,
      'SLO events (good|bad) per objective; availability events only inside the objective window',
      ['slo', 'endpoint', 'outcome'],
    ),
    recoveryEpisodes: counter(
      registry,
      METRICS.recoveryEpisodes,
      'Outages that ended, by whether they ended within the recovery objective',
      ['endpoint', 'outcome'],
    ),
  };
}
