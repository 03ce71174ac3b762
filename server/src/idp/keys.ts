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

/**
 * The algorithms baton accepts of anything an IdP signs for it (ID tokens, logout tokens, global token
 * revocation requests): asymmetric only, never `none` or HMAC (RFC 8725 §3.1, §3.2; OIDC Back-Channel
 * Logout 1.0 §2.6 step 2 as for ID tokens; draft-parecki-oauth-global-token-revocation-06 §3.5).
 */
export const IDP_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/**
 * Whether jose's failure to verify was the IdP's key set not being readable (its JWKS or discovery
 * document did not answer, or timed out), as opposed to the JWT itself being refused: the first is
 * answered 503 (the IdP may send again), the second refused.
 */
export function keysUnavailable(err: unknown): boolean {
  const { code, message = '' } = err as { code?: string; message?: string };
  if (code === undefined || code === 'ERR_JWKS_TIMEOUT') return true;
  // createRemoteJWKSet: "Expected 200 OK from the JSON Web Key Set HTTP response", and the like
  return code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set/.test(message);
}

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
