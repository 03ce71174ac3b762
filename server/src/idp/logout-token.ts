/**
 * The logout token of OpenID Connect Back-Channel Logout 1.0 (§2.4), validated as §2.6 requires, by jose:
 *
 *   §2.6 step 1   an encrypted token (JWE) is refused: baton registers no encryption key at any IdP
 *   §2.6 step 2   the signature, as an ID token's (OIDC Core §3.1.3.7 (6)): the IdP's one key set (keys.ts),
 *                 an ID token's algorithms (never `none` or HMAC)
 *   §2.6 step 3   `iss` the IdP's issuer, `aud` containing baton's client_id there, `iat` present (and recent),
 *                 `exp` when present (the final 1.0 text allows it)
 *   §2.6 step 4   `sub`, `sid`, or both
 *   §2.6 step 5   `events`, a JSON object with the member http://schemas.openid.net/event/backchannel-logout,
 *                 itself a JSON object
 *   §2.6 step 6   no `nonce` (what tells a logout token from an ID token)
 *   §2.6 step 7   `jti` present (its single use is checked by the caller, across processes)
 *   §2.4          the header's `typ`, when present, `logout+jwt` (or the generic `JWT` many IdPs send)
 * Each refusal names its reason (for the log and the audit trail, never the wire).
 */
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { OidcIdpConfig } from '../config/schema.ts';
import { IDP_ALGORITHMS, keysUnavailable, type IdpKeys } from './keys.ts';

export const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** §2.6 step 3: leeway for iat and exp */
export const CLOCK_SKEW_SECONDS = 30;
/** §2.6 step 3 "iat not far off": a logout token is sent at once; an older one is refused */
export const MAX_AGE_SECONDS = 600;
/** RFC 7515 §4.1.9 / RFC 8725 §3.11: the explicit type (the media type without `application/`), or generic */
const TYPS = new Set(['logout+jwt', 'application/logout+jwt', 'jwt']);

export interface LogoutToken {
  jti: string;
  iat: number;
  sub?: string;
  sid?: string;
}

export class LogoutTokenRefused extends Error {
  override name = 'LogoutTokenRefused';
}

/** The IdP's keys could not be read (its JWKS or discovery document unreachable): not the token's fault. */
export class IdpKeysUnavailable extends Error {
  override name = 'IdpKeysUnavailable';
}

const refuse = (why: string): never => {
  throw new LogoutTokenRefused(why);
};
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.isWellFormed();
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function header(token: string): { typ?: unknown } {
  // §2.6 step 1: a JWE has five parts; baton asks for no encrypted logout tokens
  if (token.split('.').length !== 3) refuse('not a signed JWT (JWS compact serialization)');
  try {
    return decodeProtectedHeader(token);
  } catch {
    return refuse('malformed JWT header');
  }
}

export async function verifyLogoutToken(idp: OidcIdpConfig, keys: IdpKeys, token: string): Promise<LogoutToken> {
  const { typ } = header(token);
  if (typ !== undefined && (typeof typ !== 'string' || !TYPS.has(typ.toLowerCase())))
    refuse(`typ ${JSON.stringify(typ)} is not logout+jwt`);
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      issuer: idp.issuer,
      audience: idp.client_id!,
      algorithms: IDP_ALGORITHMS,
      requiredClaims: ['iat', 'jti', 'events'],
      maxTokenAge: MAX_AGE_SECONDS,
      clockTolerance: CLOCK_SKEW_SECONDS,
    }));
  } catch (err) {
    const e = err as { code?: string; claim?: string; message: string };
    // a remote JWKS that did not answer (or a discovery that failed): the IdP may send the token again
    if (keysUnavailable(err))
      throw new IdpKeysUnavailable(`the IdP's keys could not be read: ${e.message}`, { cause: err });
    return refuse(`${e.code ?? 'invalid'}${e.claim ? ` (${e.claim})` : ''}: ${e.message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.iat !== 'number' || claims.iat > now + CLOCK_SKEW_SECONDS) refuse('iat is in the future');
  if (!isObject(claims.events) || !isObject(claims.events[LOGOUT_EVENT]))
    refuse(`events has no ${LOGOUT_EVENT} member that is a JSON object`);
  if ('nonce' in claims) refuse('a logout token must not contain nonce');
  if (!nonEmpty(claims.jti)) refuse('jti is not a non-empty string');
  const sub = claims.sub === undefined ? undefined : nonEmpty(claims.sub) ? claims.sub : refuse('sub is not a string');
  const sid = claims.sid === undefined ? undefined : nonEmpty(claims.sid) ? claims.sid : refuse('sid is not a string');
  if (sub === undefined && sid === undefined) refuse('neither sub nor sid');
  return {
    jti: claims.jti as string,
    iat: claims.iat!,
    ...(sub !== undefined ? { sub } : {}),
    ...(sid !== undefined ? { sid } : {}),
  };
}
