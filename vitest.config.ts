import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['server/**/*.test.ts', 'adapters/**/*.test.ts', 'clients/**/*.test.ts', 'conformance/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // two cores: files run two at a time; the multi-process tests spawn their own servers
    maxWorkers: 2,
    pool: 'forks',
  },
});
