import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['server/**/*.test.ts', 'adapters/**/*.test.ts', 'clients/**/*.test.ts', 'conformance/**/*.test.ts'],
    // removes each file's temporary directories (server/test/temp.ts) when the file ends, passed or failed
    setupFiles: ['server/test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // two cores: files run two at a time; the multi-process tests spawn their own servers
    maxWorkers: 2,
    pool: 'forks',
  },
});
