import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Socket-heavy suites run one file at a time on small machines; tests inside a file stay sequential.
    fileParallelism: false,
    pool: 'forks',
  },
});
