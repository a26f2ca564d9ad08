// The dashboard in a real browser against the demo fleet (simulators, monitor, store, gateway, all
// on loopback): the overview shows what /api/ says, an outage injected through the simulator shows
// as down and then up again, the endpoint page draws its targets, the routing form agrees with
// `llm-fleet route`, and screenshots are saved for people (test-artifacts/, docs/dashboard.png).
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';
import type { EndpointDetail, Overview } from '../../src/dashboard/index.ts';
import { CHROMIUM_MISSING, HAVE_CHROMIUM, startDemoDashboard } from './chromium.ts';
import type { DemoFleet } from './demo-fleet.ts';

const ARTIFACTS = 'test-artifacts';
const HAVE_CHECK = existsSync('src/cli/check.ts');
if (HAVE_CHROMIUM && !HAVE_CHECK)
  console.warn(
    '[browser tests] the `llm-fleet check --json` comparison is SKIPPED: src/cli/check.ts does not exist yet',
  );

/** Runs `llm-fleet <args> --json` in process (the CLI's own code) against the demo's simulators and store. */
async function cli(demo: DemoFleet, args: string[]): Promise<unknown> {
  const io = memoryIo({
    ...process.env,
    ...demo.env,
    LLM_FLEET_LOOPBACK_ONLY: '1',
    LLM_FLEET_STORE: demo.storePath,
  });
  const code = await main(args, io);
  // 0 ok, 1 findings (check on a breach, route with no endpoint) — both print their JSON.
  expect(code, io.stderr).toBeLessThan(2);
  return JSON.parse(io.stdout) as unknown;
}

/** Reads the JSON the page itself fetched for `path` during `action` (what the DOM must show). */
async function pageJson<T>(page: Page, path: string, action: () => Promise<unknown>): Promise<T> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === path && r.status() === 200, {
      timeout: 30_000,
    }),
    action(),
  ]);
  return (await response.json()) as T;
}

describe.skipIf(!HAVE_CHROMIUM)(`dashboard in Chromium${CHROMIUM_MISSING}`, { timeout: 120_000 }, () => {
  let session: Awaited<ReturnType<typeof startDemoDashboard>> | undefined;
  let demo: DemoFleet;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // Nothing may be loaded from anywhere but the gateway.
    session = await startDemoDashboard();
    ({ demo, page } = session);
  }, 120_000);

  afterAll(() => session?.close());

  it('shows every endpoint with targets and measured values exactly as /api/overview gives them', async () => {
    await page.goto(`${demo.url}/`);
    // A fresh fleet: the page picks the window that holds its data (1 h), not the 24 h default.
    await expect.poll(() => page.getByLabel('Window').inputValue(), { timeout: 20_000 }).toBe('1h');
    await page.getByLabel('Window').selectOption('1h');
    // Wait until traffic has reached the fast coder and the monitor has seen every endpoint up.
    await expect.poll(async () => page.locator('[data-state="up"]').count(), { timeout: 20_000 }).toBe(4);
    await expect
      .poll(
        async () =>
          Number(await page.locator('[data-objective="coder-fast-ttft-p95"]').getAttribute('data-total')),
        {
          timeout: 30_000,
        },
      )
      .toBeGreaterThan(5);
    // Every overview answer the page receives, by its clock; the DOM says which one it shows.
    const answers = new Map<number, Overview>();
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/api/overview' && r.ok())
        void r.json().then(
          (o: Overview) => answers.set(o.nowMs, o),
          () => undefined,
        );
    });
    type Row = { id: string | null; verdict: string | null; threshold: string | null; total: string | null };
    let snapshot: { nowMs: number; rows: Row[] } = { nowMs: NaN, rows: [] };
    await expect
      .poll(
        async () => {
          snapshot = await page.evaluate(() => ({
            nowMs: Number(document.querySelector('.cards')?.getAttribute('data-now')),
            rows: [...document.querySelectorAll('[data-objective]')].map((r) => ({
              id: r.getAttribute('data-objective'),
              verdict: r.getAttribute('data-verdict'),
              threshold: r.getAttribute('data-threshold'),
              total: r.getAttribute('data-total'),
            })),
          }));
          return answers.has(snapshot.nowMs);
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    const overview = answers.get(snapshot.nowMs) as Overview;
    const shown = snapshot.rows;
    const expected = overview.endpoints.flatMap((e) => e.objectives);
    expect(shown.map((s) => s.id)).toEqual(expected.map((o) => o.id));
    for (const o of expected) {
      const row = shown.find((s) => s.id === o.id);
      expect(row?.verdict, o.id).toBe(o.verdict);
      expect(row?.threshold ?? undefined, o.id).toBe(
        o.threshold === undefined ? undefined : String(o.threshold),
      );
      expect(row?.total, o.id).toBe(String(o.total));
    }
    // The text a person reads carries the same target: coder-fast's P95 is ≤ 800 ms in the fleet file.
    await expect
      .poll(() => page.locator('[data-objective="coder-fast-ttft-p95"]').textContent(), { timeout: 20_000 })
      .toContain('≤ 800 ms');
    await expect
      .poll(() => page.locator('[data-endpoint="small"]').textContent(), { timeout: 20_000 })
      .toContain('planned');
    await expect
      .poll(() => page.locator('[data-key="deprecated-OLLAMA_BASE_URL"]').textContent(), { timeout: 20_000 })
      .toContain('deprecated');
    // The fleet header counts what the cards show, from the same answer.
    await expect
      .poll(() => page.locator('[data-stat="up"] strong').textContent(), { timeout: 20_000 })
      .toBe(String(overview.summary.endpoints.up));
    const met = Number(await page.locator('[data-stat="met"] strong').textContent());
    const judged = ['met', 'at-risk', 'breached', 'not-enough-data'].map((k) =>
      page.locator(`[data-stat="${k}"] strong`).textContent(),
    );
    expect((await Promise.all(judged)).map(Number).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(met);
    // The address an endpoint is reached at is the simulator's URL, never the LAN host with its port.
    const fastUrl = demo.sims.get('coder-fast')?.url as string;
    const address = await page.locator('[data-endpoint="coder-fast"] [data-role="address"]').textContent();
    expect(address).toContain(fastUrl);
    expect(await page.locator('[data-endpoint="coder-fast"]').textContent()).not.toContain(
      `192.168.86.201:${new URL(fastUrl).port}`,
    );
    // The clock says its time zone.
    await expect
      .poll(() => page.locator('#live').textContent(), { timeout: 20_000 })
      .toMatch(/live · .*\d{2}:\d{2}:\d{2}.*\s(UTC|GMT[+-]?\d*|[A-Z]{2,5})$/);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-overview.png`, fullPage: true });
  });

  it('shows an endpoint going down (and its host degraded) and coming back, live, without reload', async () => {
    const before = await page.evaluate(() => performance.getEntriesByType('navigation').length);
    const fast = page.locator('[data-endpoint="coder-fast"]');
    demo.sims.get('coder-fast')?.setFaults([{ kind: 'down' }]);
    await expect.poll(() => fast.getAttribute('data-state'), { timeout: 20_000 }).toBe('down');
    await expect
      .poll(() => fast.locator('[data-role="status"]').textContent(), { timeout: 20_000 })
      .toContain('down since');
    // Same host, still up: degraded mode applies there.
    await expect
      .poll(() => page.locator('[data-endpoint="coder"]').getAttribute('data-state'), { timeout: 20_000 })
      .toBe('degraded');
    // The header counts the outage and names its open incident.
    await expect
      .poll(() => page.locator('[data-stat="down"] strong').textContent(), { timeout: 20_000 })
      .toBe('1');
    await expect
      .poll(() => page.locator('[data-role="open-incidents"]').textContent(), { timeout: 20_000 })
      .toContain('coder-fast');
    // The endpoint in outage shows its failed attempts, though its traffic was answered elsewhere.
    await expect
      .poll(
        async () =>
          Number(
            (await fast
              .locator('[data-role="failed-attempts"]')
              .getAttribute('data-count')
              .catch(() => '0')) ?? 0,
          ),
        { timeout: 20_000 },
      )
      .toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-outage.png`, fullPage: true });
    demo.sims.get('coder-fast')?.setFaults([]);
    await expect.poll(() => fast.getAttribute('data-state'), { timeout: 20_000 }).toBe('up');
    await expect
      .poll(() => page.locator('[data-endpoint="coder"]').getAttribute('data-state'), { timeout: 20_000 })
      .toBe('up');
    await expect
      .poll(() => fast.locator('[data-objective="coder-fast-recovery"]').textContent(), { timeout: 20_000 })
      .toContain('1/1 within, worst');
    // Still the same document: the page updated itself.
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(before);
    // Failover and rescue: counts per endpoint and cause, the latest events with their path, and
    // each objective's burn rate with the state its exported alert would be in, as the API says.
    const after = (await page.evaluate(() =>
      fetch('/api/overview?window=1h').then((r) => r.json()),
    )) as Overview;
    const counted = after.summary.failovers.counts.filter((c) => c.endpoint === 'coder-fast');
    expect(counted.length).toBeGreaterThan(0);
    for (const c of counted)
      await expect
        .poll(() => page.locator(`[data-failover="coder-fast:${c.cause}"]`).count(), { timeout: 20_000 })
        .toBe(1);
    await expect
      .poll(() => page.locator('.failover-last li').count(), { timeout: 20_000 })
      .toBe(after.summary.failovers.last.length);
    const availability = after.endpoints
      .find((e) => e.name === 'coder-fast')
      ?.objectives.find((o) => o.kind === 'availability');
    if (availability?.burn?.windows.find((w) => w.windowMs === 3_600_000)?.burnRate !== undefined)
      await expect
        .poll(
          () =>
            page
              .locator('[data-objective="coder-fast-availability"] [data-role="burn"]')
              .getAttribute('data-firing'),
          { timeout: 20_000 },
        )
        .toBe(availability.burn.firing);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-recovered.png`, fullPage: true });
    // Usable at 420 px: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 420, height: 900 });
    await expect
      .poll(() => page.evaluate(() => document.documentElement.scrollWidth), { timeout: 10_000 })
      .toBeLessThanOrEqual(420);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-420px.png` });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('draws the endpoint page: target lines from the fleet file, the incident against its recovery SLO', async () => {
    // Every endpoint answer the page receives, by its clock; the tables say which one they show.
    const answers = new Map<number, EndpointDetail>();
    page.on('response', (r) => {
      if (new URL(r.url()).pathname === '/api/endpoints/coder-fast' && r.ok())
        void r.json().then(
          (d: EndpointDetail) => answers.set(d.nowMs, d),
          () => undefined,
        );
    });
    // By keyboard: the card's title is a link.
    await page.locator('[data-endpoint="coder-fast"] h2 a').focus();
    const detail = await pageJson<EndpointDetail>(page, '/api/endpoints/coder-fast', () =>
      page.keyboard.press('Enter'),
    );
    expect(detail.targets).toMatchObject({ ttftP95Ms: 800, ttftP99Ms: 1500 });
    await expect
      .poll(() => page.locator('[data-chart="ttft"]').getAttribute('data-targets'), { timeout: 20_000 })
      .toBe('800,1500');
    await page.locator('[data-chart="ttft"] canvas').waitFor({ state: 'visible' });
    await expect
      .poll(() => page.locator('[data-chart="ttft"]').textContent(), { timeout: 20_000 })
      .toContain('P95 target');
    const incident = page.locator('[data-incident]').first();
    await expect.poll(() => incident.getAttribute('data-verdict'), { timeout: 20_000 }).toBe('within');
    await expect.poll(() => incident.textContent(), { timeout: 20_000 }).toContain('5 min');
    expect(detail.availability.incidents.at(-1)).toMatchObject({ endpoint: 'coder-fast', verdict: 'within' });
    await expect
      .poll(() => page.locator('.timeline .bar .incident').count(), { timeout: 20_000 })
      .toBe(detail.availability.incidents.length);
    await expect
      .poll(() => page.locator('[data-key="rules"]').textContent(), { timeout: 20_000 })
      .toContain('first choice');
    // The chart fits the data (a minute-old fleet does not sit in the last pixels of the hour) and
    // its legend shows values without hovering.
    expect(Number(await page.locator('[data-chart="ttft"]').getAttribute('data-points'))).toBeLessThan(30);
    await expect
      .poll(() => page.locator('[data-chart="ttft"] .u-legend').textContent(), { timeout: 20_000 })
      .toMatch(/P95 target:?\s*800/);
    // The failover that the outage caused is marked on the charts; the error budget has its chart,
    // one line per judged objective, ending at the budget left the card shows.
    expect(detail.failovers.length).toBeGreaterThan(0);
    await expect
      .poll(async () => Number(await page.locator('[data-chart="traffic"]').getAttribute('data-markers')), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);
    expect(Number(await page.locator('[data-chart="budget"]').getAttribute('data-lines'))).toBe(
      detail.budget.length,
    );
    const availabilityBudget = detail.budget.find((b) => b.objective === 'coder-fast-availability');
    const lastPoint = availabilityBudget?.points.filter((p) => p !== null).at(-1);
    expect(lastPoint).toBeLessThan(1); // the outage spent some of it
    // Burn rates over the exported rules' windows, each alert's state as the rules would have it now —
    // "now" being the answer the tables show: a later refresh may move a short window's alert.
    let shown: { nowMs: number; alerts: Record<string, string | null> } = { nowMs: NaN, alerts: {} };
    await expect
      .poll(
        async () => {
          shown = await page.evaluate(() => ({
            nowMs: Number(document.querySelector('.tables')?.getAttribute('data-now')),
            alerts: Object.fromEntries(
              [...document.querySelectorAll('[data-burn="coder-fast-availability"] [data-alert]')].map(
                (a) => [a.getAttribute('data-alert') ?? '', a.getAttribute('data-firing')],
              ),
            ),
          }));
          return answers.has(shown.nowMs);
        },
        { timeout: 20_000 },
      )
      .toBe(true);
    const burn = answers.get(shown.nowMs)?.card.objectives.find((o) => o.kind === 'availability')?.burn;
    expect(burn?.alerts.length).toBeGreaterThan(0);
    expect(shown.alerts).toEqual(
      Object.fromEntries((burn?.alerts ?? []).map((a) => [a.name, String(a.firing)])),
    );
    expect(await page.locator('[data-key="burn"] thead th').allTextContents()).toEqual([
      'Objective',
      '5m',
      '30m',
      '1h',
      '2h',
      '6h',
      '1d',
      '3d',
      'Alerts (as the exported rules would be now)',
    ]);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-endpoint.png`, fullPage: true });
    // The README's picture is refreshed on request only, so a test run leaves the work tree clean.
    if (process.env.LLM_FLEET_UPDATE_SCREENSHOT === '1') {
      mkdirSync('docs', { recursive: true });
      copyFileSync(`${ARTIFACTS}/dashboard-recovered.png`, 'docs/dashboard.png');
    }
  });

  it("shows a replica pool's servers on its card, each with its own state; one down makes the card degraded", async () => {
    await page.goto(`${demo.url}/`);
    const card = page.locator('[aria-labelledby="card-title-coder"]');
    const badges = card.locator('[data-role="replicas"] [data-replica]');
    const pool = demo.pools.get('coder') ?? [];
    expect(pool).toHaveLength(2);
    await expect.poll(() => badges.allTextContents(), { timeout: 20_000 }).toEqual(['up', 'up']);
    expect(await card.locator('[data-role="replicas"] code').allTextContents()).toEqual(
      pool.map((s) => s.url),
    );
    pool[1]?.setFaults([{ kind: 'down' }]);
    try {
      await expect.poll(() => badges.allTextContents(), { timeout: 20_000 }).toEqual(['up', 'down']);
      await expect
        .poll(() => card.locator('[data-role="status"]').textContent(), { timeout: 20_000 })
        .toBe('degraded (1 of 2 replicas down)');
    } finally {
      pool[1]?.setFaults([]);
    }
    await expect.poll(() => badges.allTextContents(), { timeout: 20_000 }).toEqual(['up', 'up']);
  });

  it('answers the routing form exactly as `llm-fleet route` does', async () => {
    await page.getByRole('link', { name: 'Routing' }).click();
    await expect
      .poll(() => page.locator('table.matrix tbody tr').count(), { timeout: 20_000 })
      .toBe(demo.fleet.routing.rules.length + 1);
    for (const [task, tokens] of [
      ['code', '52000'],
      ['code', '1200'],
      ['routing', '900'],
      ['reasoning', '20000'],
      ['embedding', '64'],
    ] as const) {
      await page.getByLabel('Task').selectOption(task);
      await page.getByLabel('Prompt tokens').fill(tokens);
      await page.getByRole('button', { name: 'Route' }).click();
      const expected = (await cli(demo, [
        'route',
        '-f',
        demo.fleetFile,
        '--task',
        task,
        '--tokens',
        tokens,
        '--json',
      ])) as {
        endpoint: string | null;
        reason: string;
      };
      await expect
        .poll(() => page.locator('[data-route-endpoint]').getAttribute('data-route-endpoint'), {
          timeout: 30_000,
        })
        .toBe(expected.endpoint ?? '');
      await expect
        .poll(() => page.locator('[data-route-reason]').textContent(), { timeout: 20_000 })
        .toBe(expected.reason);
    }
  });

  it.skipIf(!HAVE_CHECK)(
    'shows the same targets and measured counts as `llm-fleet check --json`',
    async () => {
      // Freeze the data: no more requests or probes while the two readings are taken.
      await demo.stopTraffic();
      await demo.monitor.stop();
      demo.store.flush();
      // Past the dashboard's verdict cache for the 1 h window (1 s), so both read the frozen data.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const overview = (await (await fetch(`${demo.url}/api/overview?window=1h`)).json()) as Overview;
      const check = (await cli(demo, ['check', '-f', demo.fleetFile, '--since', '1h', '--json'])) as {
        endpoints: {
          endpoint: string;
          objectives: {
            objective: { id: string };
            target: { threshold?: number; ratio: number };
            measured: { good: number; total: number };
          }[];
        }[];
      };
      for (const e of check.endpoints)
        for (const o of e.objectives) {
          const shown = overview.endpoints
            .find((x) => x.name === e.endpoint)
            ?.objectives.find((x) => x.id === o.objective.id);
          expect(shown, o.objective.id).toMatchObject({
            target: o.target.ratio,
            good: o.measured.good,
            total: o.measured.total,
          });
          if (o.target.threshold !== undefined)
            expect(shown?.threshold, o.objective.id).toBe(o.target.threshold);
        }
    },
  );
});
