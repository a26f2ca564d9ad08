// The HTML shell. Everything else is drawn by the bundled script from /api/*; the shell holds the
// parts that must exist before it runs (landmarks, navigation, window selector, API key form).
import type { Asset, AssetName } from './assets.ts';

export function pageHtml(fleetName: string, assets: ReadonlyMap<AssetName, Asset>): string {
  const v = (name: AssetName): string => encodeURIComponent(assets.get(name)?.etag.replaceAll('"', '') ?? '');
  const title = `${escapeHtml(fleetName)} · llm-fleet`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css?v=${v('app.css')}">
<script type="module" src="/assets/app.js?v=${v('app.js')}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1><a href="#/">${escapeHtml(fleetName)}</a> <span class="sub">llm-fleet</span></h1>
  <nav aria-label="Views">
    <a href="#/" data-nav="overview">Overview</a>
    <a href="#/routing" data-nav="routing">Routing</a>
  </nav>
  <div class="controls">
    <label for="window">Window</label>
    <select id="window">
      <option value="1h">1 h</option>
      <option value="24h" selected>24 h</option>
      <option value="7d">7 d</option>
      <option value="30d">30 d</option>
    </select>
    <span id="live" class="live" role="status" aria-live="polite">connecting…</span>
  </div>
</header>
<form id="key-form" class="key-form" hidden>
  <p id="key-why">This gateway needs an API key to show fleet data.</p>
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="off" required>
  <button type="submit">Use key</button>
</form>
<main id="main" tabindex="-1"><p class="loading">Loading…</p></main>
<noscript><p>The dashboard needs JavaScript. The same data is at <a href="/api/overview">/api/overview</a>.</p></noscript>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
