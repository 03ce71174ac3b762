/**
 * The authentication of a global token revocation request (draft-parecki-oauth-global-token-revocation-06
 * §3.5, §7.1), as Okta's Universal Logout sends it: a JWT signed by the IdP in `Authorization: Bearer`
 * (RFC 6750 §2.1), shaped like an RFC 7523 private_key_jwt assertion. Okta's header is
 * `typ: global-token-revocation+jwt`; its claims `iss` (the issuer of its ID tokens), `sub` (the client id of
 * the app at Okta), `aud` (the endpoint URL), `jti`, `iat`, `exp` (iat + 5 min) and `nbf` (iat − 5 min).
 *
 * Checked here: an asymmetric algorithm (§3.5), the signature by the IdP's one key set (idp/keys.ts, the
 * keys of its ID tokens), `iss` exactly the IdP's issuer, `aud` exactly the endpoint URL (a string, or an
 * array of exactly that one), `exp` not passed, `nbf` reached, `iat` not in the future, `exp − iat` at most
 * 5 minutes (§3.5: short-lived), `sub` and `jti` present, `typ` absent, `JWT` or Okta's. Then the `jti` is
 * claimed once across every process (§3.5: a jti seen before is rejected), in the shared ReplayDetection
 * store, until the JWT expires. Every failure is a GtrAuthRefusal whose detail says why (for the log and
 * the audit record); the wire says only that the token is not valid (RFC 6750 §3.1 `invalid_token`).
 */
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { OidcIdpConfig } from '../config/schema.ts';
import { replayKey } from './replay-key.ts';
import { IDP_ALGORITHMS, keysUnavailable, type IdpKeys } from './keys.ts';

/** the header type Okta's Universal Logout sets */
export const GTR_TYP = 'global-token-revocation+jwt';
/** §3.5: "a validity window of five minutes is RECOMMENDED" (Okta's: exp = iat + 300) */
export const GTR_MAX_LIFETIME_SECONDS = 300;
/** RFC 7519 §4.1.4 leeway for exp, nbf and iat, and for a lifetime rounded up by a second or so */
const CLOCK_TOLERANCE_SECONDS = 5;

export type GtrAuthReason = 'no_token' | 'token_invalid' | 'token_replayed';

export class GtrAuthRefusal extends Error {
  override name = 'GtrAuthRefusal';
  readonly reason: GtrAuthReason;
  constructor(reason: GtrAuthReason, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

export interface GtrCaller {
  /** the caller at the IdP (§3.5 `sub`: Okta's client id of the app) */
  sub: string;
  /** the single-use record's id (replayKey): names the request in the audit trail, never the raw jti */
  record: string;
}

/** RFC 7515 §4.1.9: typ is compared case-insensitively, an `application/` prefix omitted */
function typOk(typ: unknown): boolean {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase().replace(/^application\//, '');
  return t === 'jwt' || t === GTR_TYP;
}

/** The JWT of the `Authorization` header (RFC 6750 §2.1: `Bearer` b64token), or the refusal. */
export function bearerOf(header: string): string {
  if (!header) throw new GtrAuthRefusal('no_token', 'no Authorization header');
  // RFC 7235 §2.1: the scheme is case-insensitive; another scheme is no bearer token at all (RFC 6750 §3.1)
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (!match) {
    const scheme = /^\S+/.exec(header)?.[0] ?? '';
    if (scheme.toLowerCase() !== 'bearer')
      throw new GtrAuthRefusal('no_token', 'the Authorization scheme is not Bearer');
    throw new GtrAuthRefusal('token_invalid', 'the Bearer credentials are not a b64token');
  }
  return match[1]!;
}

async function verified(jwt: string, idp: OidcIdpConfig, keys: IdpKeys): Promise<JWTPayload> {
  let typ: unknown;
  try {
    ({ typ } = decodeProtectedHeader(jwt));
  } catch {
    throw new GtrAuthRefusal('token_invalid', 'not a JWS');
  }
  if (!typOk(typ)) throw new GtrAuthRefusal('token_invalid', `typ ${JSON.stringify(typ)} is not ${GTR_TYP}`);
  try {
    const { payload } = await jwtVerify(jwt, keys, {
      issuer: idp.issuer,
      algorithms: IDP_ALGORITHMS, // §3.5: asymmetric only
      requiredClaims: ['iss', 'sub', 'aud', 'jti', 'iat', 'exp'],
      maxTokenAge: GTR_MAX_LIFETIME_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    return payload;
  } catch (err) {
    // the IdP's key set could not be read (discovery, fetch, timeout): not the caller's fault, a 503
    if (keysUnavailable(err)) throw err;
    throw new GtrAuthRefusal('token_invalid', `JWT: ${(err as { code?: string }).code}: ${(err as Error).message}`);
  }
}

/**
 * Verifies the request's JWT for `idp` at `endpoint` and claims its jti once (throws GtrAuthRefusal).
 * `replay` is the ReplayDetection store every process shares.
 */
export async function authenticateGtr(
  header: string,
  idp: OidcIdpConfig,
  keys: IdpKeys,
  endpoint: string,
  replay: Pick<Adapter, 'claim'>,
): Promise<GtrCaller> {
  const claims = await verified(bearerOf(header), idp, keys);
  // §3.5: aud is the exact endpoint URL (a string, or an array of exactly one)
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (aud.length !== 1 || aud[0] !== endpoint)
    throw new GtrAuthRefusal(
      'token_invalid',
      `aud ${JSON.stringify(claims.aud).slice(0, 200)} is not exactly ${endpoint}`,
    );
  // RFC 7519 §4.1.2, §4.1.7: sub and jti are strings
  if (typeof claims.jti !== 'string' || !claims.jti || !claims.jti.isWellFormed())
    throw new GtrAuthRefusal('token_invalid', 'jti is not a non-empty, well-formed string');
  if (typeof claims.sub !== 'string' || !claims.sub)
    throw new GtrAuthRefusal('token_invalid', 'sub is not a non-empty string');
  if (claims.exp! - claims.iat! > GTR_MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS)
    throw new GtrAuthRefusal(
      'token_invalid',
      `lifetime ${claims.exp! - claims.iat!} s exceeds ${GTR_MAX_LIFETIME_SECONDS} s`,
    );
  // §3.5: the jti is used once, across every process, until the JWT expires (one atomic claim)
  const record = replayKey(idp.issuer, claims.jti, 'gtr');
  const ttl = Math.max(1, claims.exp! - Math.floor(Date.now() / 1000) + CLOCK_TOLERANCE_SECONDS);
  if (!(await replay.claim(record, { jti: record, iss: idp.issuer, kind: 'ReplayDetection' }, ttl)))
    throw new GtrAuthRefusal('token_replayed', `jti already used (record ${record})`);
  return { sub: claims.sub.slice(0, 256), record };
}
