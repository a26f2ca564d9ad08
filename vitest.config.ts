import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    env: { LLM_FLEET_LOOPBACK_ONLY: '1' },
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
