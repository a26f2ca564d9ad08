// The committed bundle must be what the sources build to: the project runs from source with no
// build step, so a stale bundle would ship old browser code silently.
import { describe, expect, it } from 'vitest';
import { staleAssets } from './build.ts';

describe('dashboard bundle', () => {
  it('is up to date with src/dashboard/client (run `npm run build:dashboard` if this fails)', async () => {
    expect(await staleAssets()).toEqual([]);
  });
});
