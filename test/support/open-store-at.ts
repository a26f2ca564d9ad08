// One process opening (creating and migrating) a sqlite store at a given instant, for the test of
// several processes opening one new file at once: node test/support/open-store-at.ts FILE AT_MS.
// Prints "ok", or the error.
import { fileURLToPath } from 'node:url';
import { loadFleet } from '../../src/fleet/index.ts';
import { openSqliteStore } from '../../src/store/sqlite-store.ts';

const [path, at] = [process.argv[2] as string, Number(process.argv[3])];
const fleet = loadFleet(fileURLToPath(new URL('../../examples/onex.fleet.yaml', import.meta.url)));
while (Date.now() < at) {
  // Spin, not sleep: both processes start their first statement within a millisecond.
}
try {
  const store = await openSqliteStore({ path, fleet });
  await store.close();
  console.log('ok');
} catch (error) {
  console.log(error instanceof Error ? error.message : String(error));
}
