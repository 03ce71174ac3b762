/**
 * Reading a value the configuration names by its source: `env` (a variable of this process), `file` (read
 * now: a file a vault agent rewrites is used from then on), `secret` (baton's secrets store, through the
 * injected lookup, with its previous value in an overlap). Used by the gateways' credentials
 * (gateway/credential.ts) and the brokered upstreams' client secrets (brokering/client-secret.ts).
 */
import { readFile } from 'node:fs/promises';
import type { SecretLookup } from './reader.ts';

/** The credential could not be had (unset, unreadable, not a valid header value): the message names the source. */
export class CredentialError extends Error {
  override name = 'CredentialError';
}

/**
 * A value as its source holds it (`env:` and `file:` read now, `secret:` through the injected lookup, with
 * its previous value in an overlap), unchecked; CredentialError names the source, never the value. The
 * gateways' credentials and the brokered upstreams' client secrets (brokering/client-secret.ts) read so.
 */
export async function readSource(
  c: { secret?: string | undefined; env?: string | undefined; file?: string | undefined },
  opts: { secret?: SecretLookup; env?: Record<string, string | undefined> } = {},
): Promise<{ value: string; previous?: string }> {
  const env = opts.env ?? process.env;
  if (c.env !== undefined) {
    const value = env[c.env];
    if (value === undefined) throw new CredentialError(`environment variable ${c.env} is not set`);
    return { value };
  }
  if (c.file !== undefined) {
    try {
      return { value: await readFile(c.file, 'utf8') };
    } catch (err) {
      throw new CredentialError(`cannot read ${c.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const name = c.secret!;
  if (!opts.secret) throw new CredentialError(`secret ${name}: no secrets store is wired into this gateway`);
  try {
    return await opts.secret(name);
  } catch (err) {
    throw new CredentialError(`secret ${name}: ${(err as Error).message}`);
  }
}
