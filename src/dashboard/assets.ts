// The page's bundled assets (built by `npm run build:dashboard`, committed, checked fresh by a test),
// read once from this folder and served with a content hash so a browser never mixes versions.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FleetError } from '../errors.ts';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

export const ASSET_FILES = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

export type AssetName = keyof typeof ASSET_FILES;

export const ASSETS_DIR = new URL('./assets/', import.meta.url);

let loaded: Promise<ReadonlyMap<AssetName, Asset>> | undefined;

export function loadAssets(): Promise<ReadonlyMap<AssetName, Asset>> {
  loaded ??= (async () => {
    const out = new Map<AssetName, Asset>();
    for (const [name, contentType] of Object.entries(ASSET_FILES) as [AssetName, string][]) {
      let body: Buffer;
      try {
        body = await readFile(new URL(name, ASSETS_DIR));
      } catch (cause) {
        loaded = undefined;
        throw new FleetError('dashboard_assets_missing', `the dashboard bundle ${name} is missing`, {
          hint: 'run `npm run build:dashboard`',
          cause,
        });
      }
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
      out.set(name, { body, contentType, etag });
    }
    return out;
  })();
  return loaded;
}
