/**
 * The secret of baton's client at a brokered upstream's authorization server (`gateways[].oauth.client_secret`):
 * read at each use from where the configuration says (the secrets store, a variable, a file), so a rotated
 * secret is used from then on. Never logged: errors name the source only.
 */
import type { GatewayConfig } from '../config/schema.ts';
import { readSource } from '../secrets/source.ts';
import type { SecretLookup } from '../secrets/reader.ts';

export function clientSecretOf(
  gateway: GatewayConfig,
  opts: { env?: Record<string, string | undefined>; secret?: SecretLookup | undefined },
): () => Promise<string | undefined> {
  const source = gateway.oauth?.client_secret;
  return async () => {
    if (!source) return undefined; // a public client: PKCE alone
    const { env, secret } = opts;
    return (await readSource(source, { ...(env ? { env } : {}), ...(secret ? { secret } : {}) })).value.trim();
  };
}
