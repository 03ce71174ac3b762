/**
 * Runs once per vitest run, before the integration project's files (vitest `globalSetup`): makes the
 * template of an empty embedded store. Creating a PGlite cluster (its initdb, in WebAssembly) takes seconds
 * (3 on an idle 2-core machine, over 10 under load); copying a made one takes a tenth of a second. So the
 * embedded backend of server/test/helpers.ts copies this template into each fresh data directory instead
 * of creating a cluster per server. The template is made in the background (tests that need it wait for
 * it, the others do not) and holds nothing but an empty cluster: each server still migrates and creates its
 * keys on its own store, as on a first start.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the directory of the empty embedded store's template (see embeddedTemplate in helpers.ts) */
    embeddedTemplate: string;
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-embedded-template-'));
  const made = PGlite.create(join(dir, 'pg'))
    .then((pg) => pg.close())
    .then(
      () => writeFileSync(join(dir, 'ready'), ''),
      // the tests then create their clusters themselves, as without a template
      (err: unknown) => writeFileSync(join(dir, 'failed'), String(err)),
    );
  project.provide('embeddedTemplate', dir);
  return async () => {
    await made;
    rmSync(dir, { recursive: true, force: true });
  };
}
