/**
 * One key source per OIDC IdP, used for everything the IdP signs: sign-in ID tokens (OIDC Core
 * §3.1.3.7 (6)), ID-JAGs (ID-JAG §4.4.1) and ID tokens presented at token exchange (RFC 8693 §2.1).
 * In order of precedence: `jwks` (keys in the configuration, for an issuer that publishes none, such as
 * the development XAA issuer), `jwks_uri`, else the discovery document's `jwks_uri` (OIDC Discovery §3).
 * A remote set is fetched by jose and cached (re-fetched on an unknown `kid`, at most every 30 s).
 */
import { createLocalJWKSet, createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import type { OidcIdpConfig } from '../config/schema.ts';

const REMOTE = { timeoutDuration: 5000, cooldownDuration: 30_000 } as const;

export type IdpKeys = JWTVerifyGetKey;

/** The IdP's key set; `discoveredJwksUri` is asked only when the configuration names no keys. */
export function idpKeys(idp: OidcIdpConfig, discoveredJwksUri: () => Promise<string>): IdpKeys {
  if (idp.jwks) return createLocalJWKSet(idp.jwks);
  if (idp.jwks_uri) return createRemoteJWKSet(new URL(idp.jwks_uri), REMOTE);
  let remote: ReturnType<typeof createRemoteJWKSet> | undefined;
  return async (header, token) => {
    // a failed discovery is not cached (the IdP may come back); a set, once built, is
    remote ??= createRemoteJWKSet(new URL(await discoveredJwksUri()), REMOTE);
    return remote(header, token);
  };
}
