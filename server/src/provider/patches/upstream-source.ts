/**
 * For the patch tests only: the text of oidc-provider's own files, for the few checks that assert on the
 * upstream source a patch relies on (where a behavioural check is impractical).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

const root = dirname(createRequire(import.meta.url).resolve('oidc-provider/package.json'));

/** the installed oidc-provider's version */
export const upstreamVersion = (): string =>
  (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** one upstream file's text, by its path in the package (e.g. `lib/models/client.js`) */
export const upstreamSource = (path: string): string => readFileSync(join(root, path), 'utf8');

/** the package paths of the upstream `lib/` files whose text contains `needle` */
export function upstreamFilesContaining(needle: string): string[] {
  const lib = join(root, 'lib');
  return (readdirSync(lib, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.js'))
    .filter((file) => readFileSync(join(lib, file), 'utf8').includes(needle))
    .map((file) => relative(root, join(lib, file)))
    .sort();
}
