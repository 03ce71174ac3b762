/**
 * The ID-JAG a client redeems (draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4.1, RFC 7523 §3, MCP
 * Enterprise-Managed Authorization §7.4): typ oauth-id-jag+jwt; an algorithm allow-list (never `none`, never
 * HMAC); signed by a trusted, enabled IdP (accept_id_jag); aud exactly baton's issuer (a string, or an array
 * of exactly one); client_id = the authenticated client; exp, iat, a maximum lifetime; jti a string.
 * Each failure is `invalid_grant` (RFC 7521 §5.2) with its reason logged.
 */
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { OidcIdpConfig } from '../../../config/schema.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';

export const ID_JAG_TYP = 'oauth-id-jag+jwt';
/** RFC 7519 §4.1.4 leeway for exp and iat */
const CLOCK_TOLERANCE_SECONDS = 5;

export interface VerifiedIdJag {
  idp: OidcIdpConfig;
  claims: JWTPayload & { jti: string; sub: string; exp: number; iat: number };
}

function decode(assertion: string): { typ: unknown; iss: unknown } {
  try {
    const { typ } = decodeProtectedHeader(assertion);
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;
    return { typ, iss: payload.iss };
  } catch {
    throw refusal('assertion_malformed');
  }
}

export async function verifyIdJag(deps: GrantDeps, assertion: string, clientId: string): Promise<VerifiedIdJag> {
  const { typ, iss } = decode(assertion);
  if (typ !== ID_JAG_TYP) throw refusal('id_jag_invalid', `typ ${String(typ)} is not ${ID_JAG_TYP}`);
  const idp = deps.idps.list.find((i) => i.type === 'oidc' && i.issuer === iss);
  if (!idp || idp.type !== 'oidc' || !idp.accept_id_jag || !idp.enabled)
    throw refusal('id_jag_issuer_untrusted', `issuer ${String(iss)} is not a trusted, enabled ID-JAG issuer`);

  const { id_jag: limits, issuer } = deps.config;
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(assertion, deps.idps.keys(idp), {
      issuer: idp.issuer,
      typ: ID_JAG_TYP,
      algorithms: limits.algorithms,
      requiredClaims: ['sub', 'aud', 'jti', 'exp', 'iat', 'client_id'],
      maxTokenAge: limits.max_lifetime_seconds,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }));
  } catch (err) {
    throw refusal('id_jag_invalid', `ID-JAG: ${(err as { code?: string }).code ?? (err as Error).message}`);
  }
  // ID-JAG §4.4.1: aud is baton's issuer, as a string or as an array of exactly one
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (aud.length !== 1 || aud[0] !== issuer)
    throw refusal('id_jag_audience', `aud ${JSON.stringify(claims.aud)} is not exactly ${issuer}`);
  // RFC 7519 §4.1.7: jti is a string
  if (typeof claims.jti !== 'string' || !claims.jti || !claims.jti.isWellFormed())
    throw refusal('id_jag_invalid', 'jti is not a non-empty, well-formed string');
  if (claims.client_id !== clientId)
    throw refusal(
      'id_jag_client_mismatch',
      `client_id ${String(claims.client_id)} is not the authenticated client ${clientId}`,
    );
  if (claims.exp! - claims.iat! > limits.max_lifetime_seconds)
    throw refusal('id_jag_invalid', 'ID-JAG lifetime exceeds id_jag.max_lifetime_seconds');
  return { idp, claims: claims as VerifiedIdJag['claims'] };
}
