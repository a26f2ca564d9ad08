import { Histogram, Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GapHistogram } from '../../src/gateway/metrics.ts';

const BOUNDS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

describe('GapHistogram (inter-token gaps, one series lookup per request)', () => {
  it("exposes exactly what prom-client's Histogram exposes for the same gaps, as text and as JSON", async () => {
    const a = new Registry();
    const reference = new Histogram({
      name: 'itl_seconds',
      help: 'Gaps',
      labelNames: ['endpoint', 'host'],
      buckets: BOUNDS,
      registers: [a],
    });
    const b = new Registry();
    const gaps = new GapHistogram('itl_seconds', 'Gaps', BOUNDS);
    b.registerMetric(gaps as unknown as Metric);
    expect(await b.metrics()).toBe(await a.metrics()); // no series yet: HELP and TYPE only
    let seed = 3;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let r = 0; r < 200; r++) {
      const endpoint = ['coder', 'chat "x"', 'embed\\n'][r % 3] as string;
      const host = r % 2 === 0 ? 'h1' : '';
      // Gaps in ms across every bucket, on the bounds exactly, and above the last one.
      const ms = Array.from({ length: Math.floor(rand() * 70) }, () =>
        rand() < 0.1 ? (BOUNDS[Math.floor(rand() * BOUNDS.length)] as number) * 1000 : rand() ** 3 * 4000,
      );
      const child = reference.labels({ endpoint, host });
      for (const g of ms) child.observe(g / 1000);
      gaps.observeMs(endpoint, host, ms);
    }
    expect(await b.metrics()).toBe(await a.metrics());
    expect(await b.getMetricsAsJSON()).toEqual(await a.getMetricsAsJSON());
    a.resetMetrics();
    b.resetMetrics();
    expect(await b.metrics()).toBe(await a.metrics());
  });
});
