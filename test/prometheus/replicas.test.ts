// SLOs across replicas, with a real Prometheus: two gateway replicas (each its own /metrics, scraped
// as its own instance every second) in front of one simulated endpoint, the exported rules loaded
// as they are rendered for users. A staged breach (the simulator's slow-first-token fault) is served
// half by each replica; the burn-rate alerts fire once per objective and window pair, with no
// instance label, and Prometheus' recorded error ratios equal the in-process evaluator's over the
// very requests the replicas recorded.
//
// Why each replica serves the same mix: rate() extrapolates each scraped series to the window's
// edges by its own scrape times, so Σ rate(bad) / Σ rate(total) across instances equals Σbad/Σtotal
// exactly only when every instance's bad share is the same (otherwise within ~1 scrape interval).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorRatioRecord, renderPrometheusRules } from '../../src/export/index.ts';
import type { Fleet } from '../../src/fleet/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import type { Gateway } from '../../src/gateway/index.ts';
import { buildGateway } from '../../src/gateway/index.ts';
import type { RequestRecord } from '../../src/measure/record.ts';
import type { SimFleet } from '../../src/sim/fleet.ts';
import { startSimFleet } from '../../src/sim/fleet.ts';
import { BURN_WINDOWS, burnStatus, foldRecords, objectivesFor } from '../../src/slo/index.ts';
import type { PrometheusServer } from '../support/prometheus.ts';
import { prometheusMissing, startPrometheus } from '../support/prometheus.ts';

const OBJECTIVE = 'coder-fast-ttft-p95';
const PER_REPLICA = { good: 4, bad: 16 };
const missing = prometheusMissing();

if (missing) {
  console.warn(`Prometheus across replicas skipped: ${missing}`);
  describe('SLOs across replicas in Prometheus', () => {
    it.skip(`${missing} (CI installs it in .ci/run)`, () => {});
  });
} else
  describe('SLOs across replicas in Prometheus', { timeout: 120_000 }, () => {
    let sims: SimFleet;
    let fleet: Fleet;
    const replicas: { gateway: Gateway; url: string; records: RequestRecord[] }[] = [];
    let prometheus: PrometheusServer;

    beforeAll(async () => {
      const base = loadFleet('examples/onex.fleet.yaml', { env: {}, environment: 'development' });
      // vllm 0.11.0 is the simulator's default vLLM dialect for this endpoint (see the fleet file).
      sims = await startSimFleet(base, { only: ['coder-fast'], seed: 3 });
      fleet = sims.fleet;
      for (let i = 0; i < 2; i++) {
        const records: RequestRecord[] = [];
        const gateway = buildGateway(fleet, {
          sink: { write: (r) => void records.push(r) },
          env: { ...process.env, LLM_FLEET_LOOPBACK_ONLY: '1' },
        });
        const url = await gateway.listen(0, '127.0.0.1');
        replicas.push({ gateway, url, records });
      }
      prometheus = await startPrometheus({
        targets: replicas.map((r) => new URL(r.url).host),
        rules: renderPrometheusRules(fleet),
      });
      console.info(`using ${prometheus.version}`);
    }, 60_000);

    afterAll(async () => {
      await prometheus?.stop();
      for (const r of replicas) await r.gateway.close();
      await sims?.close();
    });

    async function send(url: string, n: number): Promise<void> {
      await Promise.all(
        Array.from({ length: n }, async (_, k) => {
          const res = await fetch(`${url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'coder-fast',
              stream: true,
              max_tokens: 8,
              messages: [{ role: 'user', content: `breach ${k}` }],
            }),
          });
          expect(res.status).toBe(200);
          await res.text();
        }),
      );
    }

    async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await fn();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    it('fires the burn-rate alerts once across both replicas, with the evaluator’s ratios', async () => {
      // Both replicas scraped on their own, each with its zeroed SLO counters, before any traffic.
      await until('both targets up with their SLO counters', async () => {
        const targets = await prometheus.targets();
        const zeroed = await prometheus.query(`llm_slo_events_total{slo="${OBJECTIVE}"}`);
        return targets.length === 2 && targets.every((t) => t.health === 'up') && zeroed.length === 4
          ? true
          : undefined;
      });
      const coderFast = sims.endpoints.get('coder-fast');
      if (!coderFast) throw new Error('coder-fast simulator');
      // The staged breach: first good traffic, then every first token 1.2 s late (P95 target 800 ms).
      for (const r of replicas) await send(r.url, PER_REPLICA.good);
      coderFast.setFaults([{ kind: 'slow-first-token', delayMs: 1_200 }]);
      await Promise.all(replicas.map((r) => send(r.url, PER_REPLICA.bad)));
      coderFast.setFaults([]);

      const records = replicas.flatMap((r) => r.records);
      expect(replicas.map((r) => r.records.length)).toEqual([20, 20]);
      const objective = objectivesFor(fleet).find((o) => o.id === OBJECTIVE);
      if (!objective) throw new Error(OBJECTIVE);
      // Wait until the last scrape has every request, then read alerts and ratios at once.
      await until('the last request scraped', async () => {
        const [total] = await prometheus.query(`sum(llm_slo_events_total{slo="${OBJECTIVE}"})`);
        return total?.value === records.length ? true : undefined;
      });
      // Alerts read recorded ratios, which read the counters: wait for two rounds of every rule group
      // after the last scrape, so no alert value is left from an evaluation that saw only part of the
      // breach (on a busy machine one replica's last scrape can land between evaluations).
      let after = Date.now();
      for (let round = 0; round < 2; round++) {
        const since = after;
        after = await until('the rules evaluated after the last scrape', async () => {
          const at = await prometheus.lastRuleEvaluationMs();
          return at > since ? at : undefined;
        });
      }
      const firing = await until('the page alerts firing', async () => {
        const alerts = (await prometheus.alerts()).filter(
          (a) =>
            a.labels.alertname === 'LLMFleetErrorBudgetBurn' &&
            a.labels.slo === OBJECTIVE &&
            a.state === 'firing',
        );
        return alerts.length === BURN_WINDOWS.length ? alerts : undefined;
      });
      const status = burnStatus(foldRecords(fleet, records), OBJECTIVE, objective.target, Date.now());
      // The evaluator over the same requests: 16 of 20 bad on each replica, every pair firing.
      expect(
        status.alerts
          .filter((a) => a.firing)
          .map((a) => a.pair.name)
          .sort(),
      ).toEqual(firing.map((a) => a.labels.burn_window).sort());
      for (const alert of firing) {
        // One alert per pair across both replicas: no instance or job label leaks through.
        expect(alert.labels).not.toHaveProperty('instance');
        expect(alert.labels).not.toHaveProperty('job');
        const pair = status.alerts.find((a) => a.pair.name === alert.labels.burn_window);
        // The alert's value is its short window's ratio.
        expect(alert.value).toBeCloseTo(pair?.short.errorRatio ?? NaN, 9);
      }
      for (const w of status.windows) {
        const recorded = await prometheus.query(`${errorRatioRecord(w.windowMs)}{sloth_id="${OBJECTIVE}"}`);
        expect(recorded).toHaveLength(1);
        expect(recorded[0]?.metric).not.toHaveProperty('instance');
        expect(w.errorRatio).toBe(PER_REPLICA.bad / (PER_REPLICA.good + PER_REPLICA.bad));
        expect(recorded[0]?.value).toBeCloseTo(w.errorRatio ?? NaN, 9);
      }
    });
  });
