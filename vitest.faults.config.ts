import { defineConfig } from 'vitest/config';

/**
 * The fault and abuse suite (`npm run test:faults`): real processes, each file bounded in time.
 * Files run one at a time: each starts its own services and some measure memory or latency under
 * load, which a 2-core machine cannot do for several files at once.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
  },
});
