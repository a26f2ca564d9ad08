// Debian's Chromium for the browser tests, launched headless with a fresh profile and nothing that
// talks to the network on its own. When it is not installed the tests skip and say so.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import type { DemoFleet } from './demo-fleet.ts';
import { startDemoFleet } from './demo-fleet.ts';

export const CHROMIUM_PATH = process.env.LLM_FLEET_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM_PATH);
/** Why the browser suites skip, in their names, so the run's summary (test/summary-reporter.ts) lists it. */
export const CHROMIUM_MISSING = HAVE_CHROMIUM
  ? ''
  : ` — SKIPPED: no Chromium at ${CHROMIUM_PATH}; install it (apt-get install -y chromium) or set LLM_FLEET_CHROMIUM`;

if (!HAVE_CHROMIUM) console.warn(`[browser tests]${CHROMIUM_MISSING}`);

export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'llm-fleet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      '--disable-quic',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new page that may load nothing but loopback (anything else is aborted), waits up to 30 s by
 * default, and logs the page's own errors to the test output.
 */
export async function loopbackPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (error) => console.error(`[browser] page error: ${error.message}`));
  await page.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort(),
  );
  return page;
}

/** The demo fleet and one loopback-only page on it, in a fresh Chromium; `close` stops both. */
export async function startDemoDashboard(
  options: Parameters<typeof startDemoFleet>[0] = {},
): Promise<{ demo: DemoFleet; page: Page; close(): Promise<void> }> {
  const demo = await startDemoFleet(options);
  const browser = await launchChromium().catch(async (error: unknown) => {
    await demo.close();
    throw error;
  });
  return {
    demo,
    page: await loopbackPage(browser.context),
    async close() {
      await browser.close();
      await demo.close();
    },
  };
}
