// A throwaway Prometheus server for tests (and examples/ha): Debian's `prometheus`, its config, rules
// and TSDB in a temp dir, a free loopback port, scraping the given targets on a short interval and
// evaluating the given rule file as often. `prometheusMissing()` says why it cannot run here.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './ports.ts';

export const PROMETHEUS_BIN = process.env.LLM_FLEET_PROMETHEUS_BIN ?? 'prometheus';

export interface PrometheusOptions {
  /** host:port of each target, scraped at /metrics as its own instance. */
  readonly targets: readonly string[];
  /** A rule file (YAML) loaded with rule_files. */
  readonly rules?: string;
  /** Default 1 s for both. */
  readonly scrapeIntervalS?: number;
  readonly evaluationIntervalS?: number;
  /** Where the config, rules and TSDB go (default: a new temp dir, removed on stop). */
  readonly dir?: string;
  /** The listen port (default: a free one). */
  readonly port?: number;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing' | 'inactive';
  readonly value: number;
}

export interface PrometheusServer {
  readonly url: string;
  readonly version: string;
  readonly pid: number | undefined;
  /** An instant query; NaN values come back as NaN. */
  query(expr: string): Promise<PromSample[]>;
  /** Active alerts (GET /api/v1/alerts). */
  alerts(): Promise<PromAlert[]>;
  /** Scrape targets and their health (GET /api/v1/targets). */
  targets(): Promise<{ instance: string; health: string; lastError: string }[]>;
  /** The oldest of every rule group's last evaluation (GET /api/v1/rules), ms since the epoch. */
  lastRuleEvaluationMs(): Promise<number>;
  stop(): Promise<void>;
}

/** Why Prometheus cannot run here, with the install hint; undefined when it can. */
export function prometheusMissing(): string | undefined {
  const r = spawnSync(PROMETHEUS_BIN, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    return `prometheus not found (${PROMETHEUS_BIN}): apt-get install prometheus (or set LLM_FLEET_PROMETHEUS_BIN)`;
  return undefined;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`prometheus ${url}: ${body.error ?? res.status}`);
  return body.data;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const missing = prometheusMissing();
  if (missing) throw new Error(missing);
  const version =
    spawnSync(PROMETHEUS_BIN, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]?.trim() ?? '';
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'llm-fleet-prometheus-'));
  const scrape = `${options.scrapeIntervalS ?? 1}s`;
  const config = {
    global: {
      scrape_interval: scrape,
      scrape_timeout: scrape,
      evaluation_interval: `${options.evaluationIntervalS ?? 1}s`,
    },
    ...(options.rules !== undefined ? { rule_files: [join(dir, 'rules.yml')] } : {}),
    scrape_configs: [{ job_name: 'llm-fleet', static_configs: [{ targets: [...options.targets] }] }],
  };
  if (options.rules !== undefined) writeFileSync(join(dir, 'rules.yml'), options.rules);
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));

  async function stop(): Promise<void> {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited (${child.exitCode}):\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready in 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    version,
    pid: child.pid,
    async query(expr) {
      const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async alerts() {
      const data = await api<{
        alerts: { labels: Record<string, string>; state: PromAlert['state']; value: string }[];
      }>(`${url}/api/v1/alerts`);
      return data.alerts.map((a) => ({ labels: a.labels, state: a.state, value: Number(a.value) }));
    },
    async targets() {
      const data = await api<{
        activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
      }>(`${url}/api/v1/targets`);
      return data.activeTargets.map((t) => ({
        instance: t.labels.instance ?? '',
        health: t.health,
        lastError: t.lastError,
      }));
    },
    async lastRuleEvaluationMs() {
      const data = await api<{ groups: { lastEvaluation: string }[] }>(`${url}/api/v1/rules`);
      if (data.groups.length === 0) return 0;
      return Math.min(...data.groups.map((g) => Date.parse(g.lastEvaluation) || 0));
    },
    stop,
  };
}
