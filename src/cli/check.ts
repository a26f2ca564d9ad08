// `llm-fleet check`: every endpoint's objectives judged from the store — target, measured, error
// budget left, burn-rate alerts — and the recalibration triggers with their evidence. Exit 1 on a
// breach, except performance objectives under --env ci (judged and shown, never failing).
import { Command } from 'commander';
import type { Fleet } from '../fleet/index.ts';
import type { FleetVerdict, ObjectiveVerdict } from '../slo/evaluate.ts';
import { evaluateFleet, formatPercent } from '../slo/evaluate.ts';
import { aggregateText } from '../slo/aggregate-rate.ts';
import { recoveryText } from '../slo/recovery.ts';
import { replicaVerdicts, type ReplicaVerdict } from '../slo/replicas.ts';
import { evaluationData } from '../store/evaluation-input.ts';
import type { FleetStore } from '../store/types.ts';
import type { RegisterCommand } from './commands.ts';
import { durationOption } from './health.ts';
import type { FleetOptions } from './shared.ts';
import { loadFleetFor, printJson, table, withFleetOptions } from './shared.ts';
import type { StoreOptions } from './store-options.ts';
import { instantOption, openStoreFor, withStoreOption } from './store-options.ts';

/** Most raw records read per pool for its per-replica breakdown. */
const REPLICA_RECORD_LIMIT = 200_000;

/**
 * Each pool's replicas judged on their own requests (raw records: within the raw retention only),
 * or undefined without a pool; `partial` when the range reaches past the raw records kept.
 */
export async function replicaBreakdown(
  fleet: Fleet,
  store: FleetStore,
  range: { sinceMs: number; nowMs: number },
): Promise<{ replicas: ReplicaVerdict[]; partial: boolean } | undefined> {
  const pools = fleet.endpoints.filter((e) => (e.replicas?.length ?? 0) > 1);
  if (pools.length === 0) return undefined;
  const records = [];
  for (const e of pools)
    records.push(
      ...(await store.records(
        { fromMs: range.sinceMs, toMs: range.nowMs + 1 },
        e.name,
        REPLICA_RECORD_LIMIT,
      )),
    );
  return {
    replicas: replicaVerdicts(fleet, records, range),
    partial: range.nowMs - range.sinceMs > store.retention.rawMs,
  };
}

export async function verdictFromStore(
  fleet: Fleet,
  store: FleetStore,
  range: { sinceMs: number; nowMs: number },
): Promise<FleetVerdict> {
  return evaluateFleet(
    fleet,
    await evaluationData(fleet, store, { ...range, rawRetentionMs: store.retention.rawMs }),
  );
}

function round(value: number, unit: string): string {
  if (unit === 'ms') return `${Math.round(value)} ms`;
  return `${Math.round(value * 10) / 10} ${unit}`;
}

/** "P95 1234 ms · 961/1000 good (96.1%)". */
export function measuredText(v: ObjectiveVerdict): string {
  const m = v.measured;
  if (v.objective.kind === 'recovery') {
    if (m.total === 0 && v.assessment === 'no-data') return '—';
    return recoveryText(m.good, m.total, m.value);
  }
  if (v.aggregate)
    return v.aggregate.units === 0 && v.aggregate.busyMs === 0 ? '—' : aggregateText(v.aggregate);
  if (m.ratio === undefined) return '—';
  const value =
    m.value !== undefined && m.valuePercentile !== undefined
      ? `P${Math.round(m.valuePercentile * 100)} ${round(m.value, v.objective.unit)} · `
      : '';
  return `${value}${m.good}/${m.total} good (${formatPercent(m.ratio)})`;
}

export function budgetText(v: ObjectiveVerdict): string {
  if (v.budgetRemaining === undefined) return '—';
  // Overspent budgets read as 'spent': -2158% says nothing more than that.
  if (v.budgetRemaining <= 0) return 'spent';
  return formatPercent(v.budgetRemaining);
}

export function verdictText(v: ObjectiveVerdict): string {
  switch (v.verdict) {
    case 'ok':
      return v.burn && v.burn.firing !== 'none' ? `ok (${v.burn.firing} burn)` : 'ok';
    case 'breach':
      return 'BREACH';
    case 'no-data':
      return 'no data';
    case 'not-enough-data':
      return 'not enough data';
    case 'ci-skip':
      return v.assessment === 'breach' ? 'over (ci: not failing)' : `${v.assessment} (ci)`;
    case 'best-effort':
      return 'best-effort';
  }
}

export const register: RegisterCommand = (program, io) => {
  const command = withStoreOption(withFleetOptions(new Command('check')))
    .description(
      'Judge every objective from stored data: target, measured, budget left, recalibration triggers',
    )
    .option('--since <duration>', 'range to judge, ending now', durationOption, 7 * 24 * 3_600_000)
    .option('--at <time>', 'judge as of this ISO instant instead of now (replay)', instantOption)
    .option('--json', 'print the full verdict as JSON')
    .addHelpText(
      'after',
      `
Examples:
  llm-fleet check -f examples/onex.fleet.yaml
  llm-fleet check -f examples/onex.fleet.yaml --since 24h --env production
  llm-fleet check -f examples/onex.fleet.yaml --env ci --json      # performance shown, never failing

Latency and throughput objectives are ratios of good requests ('TTFT P95 ≤ 2000 ms' = at least
95% of requests with a first token within 2000 ms); availability counts probes inside the window
(business hours in its time zone); recovery judges every outage against the recovery time.
Triggers: sustained P95 violations, a changed model/context/server version, changed hardware in
the fleet file, and 'after optimisation work' marks (see \`llm-fleet mark\`).

Exit codes: 0 no breach · 1 an objective is breached · 2 usage, config or missing store.`,
    )
    .action(async (options: FleetOptions & StoreOptions & { since: number; at?: number; json?: boolean }) => {
      const fleet = loadFleetFor(options, io);
      const store = await openStoreFor(fleet, options, io, 'read');
      let verdict: FleetVerdict;
      let pools: Awaited<ReturnType<typeof replicaBreakdown>>;
      try {
        const nowMs = options.at ?? Date.now();
        const range = { sinceMs: nowMs - options.since, nowMs };
        verdict = await verdictFromStore(fleet, store, range);
        pools = await replicaBreakdown(fleet, store, range);
      } finally {
        await store.close();
      }
      // The endpoint's verdict is the headline (and the exit code); replicas only break it down.
      if (verdict.breach) io.setExitCode(1);
      if (options.json) {
        printJson(
          io,
          pools ? { ...verdict, replicas: pools.replicas, replicasPartial: pools.partial } : verdict,
        );
        return;
      }
      io.out(
        `${fleet.name}: ${new Date(verdict.sinceMs).toISOString()} → ${new Date(verdict.nowMs).toISOString()} (environment ${fleet.environment})\n`,
      );
      const rows: string[][] = [];
      for (const e of verdict.endpoints) {
        if (e.planned && e.objectives.every((o) => o.assessment === 'no-data')) {
          rows.push([e.endpoint, 'planned: not routable, not judged', '', '', '']);
          continue;
        }
        for (const o of e.objectives)
          rows.push([e.endpoint, o.objective.description, measuredText(o), budgetText(o), verdictText(o)]);
      }
      io.out(table(['endpoint', 'objective', 'measured', 'budget left', 'verdict'], rows));
      if (pools && pools.replicas.length > 0) {
        io.out(
          `\nPer replica (each pool's request objectives over each server's own requests${pools.partial ? '; raw records only, the range reaches past their retention' : ''}):\n`,
        );
        io.out(
          table(
            ['replica', 'requests', 'objective', 'measured', 'verdict'],
            pools.replicas.flatMap((r) =>
              r.objectives.map((o) => [
                `${r.endpoint}#${r.replica}`,
                String(r.requests),
                o.objective.description,
                measuredText(o),
                verdictText(o),
              ]),
            ),
          ),
        );
      }
      const triggers = verdict.endpoints.flatMap((e) => e.triggers);
      if (triggers.length > 0) {
        io.out('\nRecalibration triggers:\n');
        for (const t of triggers) io.out(`  ${t.endpoint}: ${t.kind} — ${t.evidence}\n`);
      }
      // Why, for every verdict that is not a plain 'ok': the breach's counts (and the outage it
      // fell in), or what is missing before the objective can be judged.
      const notes = verdict.endpoints.flatMap((e) =>
        e.planned && e.objectives.every((o) => o.assessment === 'no-data')
          ? []
          : e.objectives
              .filter(
                (o) =>
                  o.verdict === 'breach' ||
                  o.assessment === 'not-enough-data' ||
                  (o.assessment === 'no-data' && o.verdict !== 'best-effort'),
              )
              .map((o) => `  ${o.objective.id}: ${o.reason}\n`),
      );
      if (notes.length > 0) io.out(`\n${notes.join('')}`);
      const breaches = verdict.endpoints.flatMap((e) =>
        e.objectives.filter((o) => o.verdict === 'breach').map((o) => `${e.endpoint} ${o.objective.kind}`),
      );
      io.out(
        breaches.length > 0
          ? `\nBREACH: ${breaches.join(', ')}\n`
          : verdict.lastDataMs === undefined
            ? '\nno data in range (is the monitor running?)\n'
            : '\nno breach\n',
      );
    });
  program.addCommand(command);
};
