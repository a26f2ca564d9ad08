// examples/ha/run.ts as a user runs it: everything comes up on loopback, a request through the
// balancer lands in the PostgreSQL store that `check` reads, Prometheus scrapes both replicas, and
// SIGINT (Ctrl-C) stops every process it started and removes its temp dir.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadFleet } from '../../src/fleet/index.ts';
import { openStore } from '../../src/store/open.ts';
import { postgresMissing } from '../support/postgres.ts';
import { prometheusMissing } from '../support/prometheus.ts';
import { redisMissing } from '../support/redis.ts';

interface HaInfo {
  dir: string;
  balancer: string;
  replicas: { url: string; pid: number }[];
  store: string;
  state: string;
  prometheus: string;
  pids: { redis: number; postgres: number; prometheus: number; replicas: number[] };
}

const missing = [redisMissing(), postgresMissing(), prometheusMissing()].filter(Boolean).join('; ');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

if (missing) {
  console.warn(`examples/ha skipped: ${missing}`);
  describe('examples/ha/run.ts', () => {
    it.skip(`${missing} (CI installs them in .ci/run)`, () => {});
  });
} else
  describe('examples/ha/run.ts', { timeout: 120_000 }, () => {
    it('starts the whole set on loopback, serves through the balancer, and Ctrl-C stops it all', async () => {
      const child = spawn(process.execPath, ['examples/ha/run.ts', '--port', '0', '--json'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const info = await new Promise<HaInfo>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const line = out.split('\n').find((l) => l.startsWith('{'));
            if (line) resolve(JSON.parse(line) as HaInfo);
          });
          void exited.then((code) => reject(new Error(`run.ts exited (${code}):\n${err}`)));
        });
        for (const url of [info.balancer, info.prometheus, info.state, ...info.replicas.map((r) => r.url)])
          expect(new URL(url).hostname).toBe('127.0.0.1');
        // Both replicas share the state in redis.
        for (const r of info.replicas) {
          const health = (await (await fetch(`${r.url}/health`)).json()) as unknown;
          expect(health).toMatchObject({ status: 'ok', state: { shared: true } });
        }
        const res = await fetch(`${info.balancer}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'coder-fast',
            max_tokens: 8,
            messages: [{ role: 'user', content: 'hi' }],
          }),
        });
        expect(res.status).toBe(200);
        const requestId = res.headers.get('x-request-id');
        await res.text();
        // The replica's next batch puts the record in the shared store.
        const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
        const store = await openStore(info.store, { fleet });
        try {
          const deadline = Date.now() + 10_000;
          let ids: string[] = [];
          while (Date.now() < deadline) {
            ids = (await store.records({ fromMs: Date.now() - 600_000, toMs: Date.now() + 60_000 })).map(
              (r) => r.id,
            );
            if (ids.includes(requestId ?? '')) break;
            await new Promise((r) => setTimeout(r, 200));
          }
          expect(ids).toContain(requestId);
        } finally {
          await store.close();
        }
        // Prometheus scrapes each replica on its own.
        const deadline = Date.now() + 20_000;
        let up = 0;
        while (Date.now() < deadline && up < 2) {
          const body = (await (await fetch(`${info.prometheus}/api/v1/query?query=up`)).json()) as {
            data: { result: { value: [number, string] }[] };
          };
          up = body.data.result.filter((r) => r.value[1] === '1').length;
          if (up < 2) await new Promise((r) => setTimeout(r, 250));
        }
        expect(up).toBe(2);

        const pids = [info.pids.redis, info.pids.postgres, info.pids.prometheus, ...info.pids.replicas];
        expect(pids.every(alive)).toBe(true);
        child.kill('SIGINT');
        expect(await exited).toBe(0);
        expect(pids.filter(alive)).toEqual([]);
        expect(existsSync(info.dir)).toBe(false);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  });
