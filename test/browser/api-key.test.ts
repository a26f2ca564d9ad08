// The page behind an API key, as the gateway enforces it on /api/* (the page and its assets carry
// no fleet data): without a key the page asks for one; `?key=` is taken once, kept for the tab in
// sessionStorage, dropped from the address bar, and sent as a Bearer token — events included.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, createMemoryStore } from '../../src/dashboard/index.ts';
import type { Dashboard } from '../../src/dashboard/index.ts';
import { loadFleet } from '../../src/fleet/index.ts';
import { createHealthState } from '../../src/probes/state.ts';
import { CHROMIUM_MISSING, HAVE_CHROMIUM, launchChromium } from './chromium.ts';

const KEY = 'sk-test-dashboard-1234';

describe.skipIf(!HAVE_CHROMIUM)(
  `dashboard behind an API key${CHROMIUM_MISSING}`,
  { timeout: 120_000 },
  () => {
    let server: Server;
    let dashboard: Dashboard;
    let base: string;
    let browser: { context: BrowserContext; close(): Promise<void> };
    const seen: { path: string; authorization?: string }[] = [];

    beforeAll(async () => {
      const fleet = loadFleet('examples/onex.fleet.yaml', { env: {} });
      dashboard = createDashboard({
        fleet,
        store: createMemoryStore(fleet),
        health: createHealthState(fleet),
        refreshIntervalMs: 500,
      });
      server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        seen.push({
          path,
          ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        });
        if (path.startsWith('/api/') && req.headers.authorization !== `Bearer ${KEY}`) {
          res
            .writeHead(401, { 'content-type': 'application/json' })
            .end('{"error":{"message":"missing key"}}');
          return;
        }
        void dashboard.handle(req, res).then((handled) => {
          if (!handled) res.writeHead(404).end();
        });
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      dashboard?.close();
      server?.close();
    });

    it('asks for a key when none is given, then uses the one typed in', async () => {
      const page = await browser.context.newPage();
      await page.goto(`${base}/`);
      const form = page.locator('#key-form');
      await form.waitFor({ state: 'visible' });
      await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('key');
      await page.getByLabel('API key').fill(KEY);
      await page.keyboard.press('Enter');
      await form.waitFor({ state: 'hidden' });
      await expect.poll(() => page.locator('[data-endpoint]').count(), { timeout: 20_000 }).toBe(5);
      await page.close();
    });

    it('takes ?key= once, hides it from the address bar, and sends it as Bearer on every API call', async () => {
      const page = await browser.context.newPage();
      seen.length = 0;
      await page.goto(`${base}/?key=${KEY}#/routing`);
      await expect
        .poll(() => page.locator('table.matrix tbody tr').count(), { timeout: 20_000 })
        .toBeGreaterThan(1);
      expect(page.url()).not.toContain(KEY);
      expect(page.url()).toContain('#/routing');
      await expect.poll(() => seen.some((s) => s.path === '/api/events')).toBe(true);
      const api = seen.filter((s) => s.path.startsWith('/api/'));
      expect(api.every((s) => s.authorization === `Bearer ${KEY}`)).toBe(true);
      await page.close();
    });
  },
);
