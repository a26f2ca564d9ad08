// Prints the plain closing line CI reads ("N passed, N failed, N skipped"), after vitest's own report,
// and before it every skipped suite with its reason (suites that skip carry the reason and the
// install hint in their names, e.g. "dashboard in Chromium — SKIPPED: no Chromium at …").
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons = new Map<string, number>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          // The outermost named suite says why (or the test itself, for a lone skipped test).
          let top: { name: string; parent?: unknown } = test;
          for (let p = test.parent; p.type === 'suite'; p = p.parent) top = p;
          const result = test.result();
          const note = result.state === 'skipped' ? result.note : undefined;
          const why = `${module.moduleId.replace(`${process.cwd()}/`, '')}: ${top.name}${note ? ` (${note})` : ''}`;
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
      }
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
    }
    if (reasons.size > 0) {
      process.stdout.write('\nskipped:\n');
      for (const [why, n] of reasons) process.stdout.write(`  ${n} × ${why}\n`);
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
