import { defineConfig } from 'vitest/config';

/**
 * Two projects (docs/testing.md): `unit` is pure logic beside its module, needing no server, no PostgreSQL
 * or Redis, no browser and no child process (`npm run test:unit`, seconds on a fresh clone); `integration`
 * is everything else (`npm run test:integration`). `npm test` (scripts/test.sh, CI) runs both.
 */
const UNIT = ['server/src/**/*.test.ts'];
// under server/src but not pure: runs `git ls-files`
const NOT_UNIT = ['server/src/standalone.test.ts'];

export default defineConfig({
  test: {
    // removes each file's temporary directories (server/test/temp.ts) when the file ends, passed or failed
    setupFiles: ['server/test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // two cores: files run two at a time; the multi-process tests spawn their own servers
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, exclude: NOT_UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          // an empty embedded store's template, copied for each fresh embedded store (helpers.ts)
          globalSetup: ['server/test/global-setup.ts'],
          include: [
            'server/test/**/*.test.ts',
            'adapters/**/*.test.ts',
            'clients/**/*.test.ts',
            'conformance/**/*.test.ts',
            ...NOT_UNIT,
          ],
        },
      },
    ],
  },
});
