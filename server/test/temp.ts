/**
 * Temporary directories for tests: `tempDir('cli')` makes `<tmpdir>/baton-cli-XXXXXX` and records it;
 * `server/test/setup.ts` removes every recorded one after the test file's own afterAll hooks (so after its
 * servers have stopped), whether its tests passed or failed. Embedded (PGlite) data directories are tens of
 * megabytes each: a run must not leave them behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created = new Set<string>();

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `baton-${name}-`));
  created.add(dir);
  return dir;
}

/** Removes every directory tempDir made in this process (the test file's, or a script's, at its end). */
export function removeTempDirs(): void {
  for (const dir of created) {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    created.delete(dir);
  }
}
