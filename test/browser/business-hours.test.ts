// The dashboard outside business hours, in a real browser: the demo fleet (simulators, monitor, store,
// gateway) with its business-hours window closed for the whole last hour (startDemoFleet's 'closed':
// local time about midnight in the window's zone), so a business-hours availability objective whose
// window held no minute of the range says "outside business hours" — not "no probes yet" — while the
// always-on objective of embeddings counts the probes the monitor really made in those minutes.
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Overview } from '../../src/dashboard/index.ts';
import { CHROMIUM_MISSING, HAVE_CHROMIUM, startDemoDashboard } from './chromium.ts';
import type { DemoFleet } from './demo-fleet.ts';

const ARTIFACTS = 'test-artifacts';

describe.skipIf(!HAVE_CHROMIUM)(
  `dashboard outside business hours in Chromium${CHROMIUM_MISSING}`,
  { timeout: 120_000 },
  () => {
    let session: Awaited<ReturnType<typeof startDemoDashboard>> | undefined;
    let demo: DemoFleet;
    let page: Page;

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      session = await startDemoDashboard({ businessHours: 'closed' });
      ({ demo, page } = session);
    }, 120_000);

    afterAll(() => session?.close());

    it('says "outside business hours" for a business-hours objective, and counts the always-on one', async () => {
      const answers: Overview[] = [];
      page.on('response', (r) => {
        if (new URL(r.url()).pathname === '/api/overview' && r.ok())
          void r.json().then(
            (o: Overview) => answers.push(o),
            () => undefined,
          );
      });
      await page.goto(`${demo.url}/`);
      await expect.poll(async () => page.locator('[data-state="up"]').count(), { timeout: 30_000 }).toBe(4);
      // The monitor's probes of these Sunday minutes have reached the store: the embeddings
      // endpoint's objective (window `always`) counts them.
      const always = page.locator('[data-objective="embeddings-availability"]');
      await expect
        .poll(async () => Number(await always.getAttribute('data-total')), { timeout: 30_000 })
        .toBeGreaterThan(0);
      await expect.poll(() => always.textContent(), { timeout: 20_000 }).toMatch(/probes good/);

      // A fresh store: the page follows the server's suggested window (the last hour), even when its
      // first answer came before the gateway had stored a request (the 24 h default holds business hours).
      await expect.poll(() => page.locator('#window').inputValue(), { timeout: 20_000 }).toBe('1h');
      // coder, coder-fast and deepseek-r1: probed just as often, up, and judged on business hours only.
      for (const id of ['coder-availability', 'coder-fast-availability', 'deepseek-r1-availability']) {
        const row = page.locator(`[data-objective="${id}"]`);
        await expect.poll(() => row.textContent(), { timeout: 20_000 }).toContain('outside business hours');
        const text = (await row.textContent()) ?? '';
        expect(text, id).not.toMatch(/no probes/);
        expect(await row.getAttribute('data-total'), id).toBe('0');
        expect(await row.getAttribute('title'), id).toMatch(/^outside business hours: /);
      }
      // The verdict the page shows is the server's (the same evaluation as `llm-fleet check`).
      const last = answers.at(-1);
      const coder = last?.endpoints
        .find((e) => e.name === 'coder')
        ?.objectives.find((o) => o.id === 'coder-availability');
      expect(coder?.reason).toMatch(/^outside business hours: the range holds none of business-hours/);
      await page.screenshot({ path: `${ARTIFACTS}/dashboard-outside-business-hours.png`, fullPage: true });
    });
  },
);
