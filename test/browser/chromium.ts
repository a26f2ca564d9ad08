// Debian's Chromium for the browser tests, launched headless with a fresh profile and nothing that
// talks to the network on its own. When it is not installed the tests skip and say so.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';

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
