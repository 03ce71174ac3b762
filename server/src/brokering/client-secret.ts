/**
 * The secret of baton's client at a brokered upstream's authorization server (`gateways[].oauth.client_secret`):
 * read at each use from where the configuration says (the secrets store, a variable, a file), so a rotated
 * secret is used from then on. Never logged: errors name the source only.
 */
import { readFile } from 'node:fs/promises';
import type { GatewayConfig } from '../config/schema.ts';
import type { SecretLookup } from '../secrets/reader.ts';

export function clientSecretOf(
  gateway: GatewayConfig,
  opts: { env?: Record<string, string | undefined>; secret?: SecretLookup | undefined },
): () => Promise<string | undefined> {
  const source = gateway.oauth?.client_secret;
  const env = opts.env ?? process.env;
  return async () => {
    if (!source) return undefined; // a public client: PKCE alone
    if (source.env !== undefined) {
      const v = env[source.env];
      if (v === undefined) throw new Error(`gateways.${gateway.id}.oauth.client_secret: ${source.env} is not set`);
      return v.trim();
    }
    if (source.file !== undefined) return (await readFile(source.file, 'utf8')).trim();
    if (!opts.secret) throw new Error(`gateways.${gateway.id}.oauth.client_secret: no secrets store here`);
    return (await opts.secret(source.secret!)).value;
  };
}
