/**
 * Who a token an OIDC IdP signed names: the claim `identity_providers[].subject_claim` (default `sub`, OIDC
 * Core §2) of its ID tokens, the account's IdP subject (accounts/store.ts: the account is (issuer, subject)).
 * An IdP whose `sub` is pairwise per application (Entra ID, OIDC Core §8.1) names the person across its
 * applications, SCIM provisioning included, by another claim: Entra's object id, `oid`. Read the same way for
 * the sign-in ID token, a refreshed one, an ID token at token exchange and an ID-JAG (whose `sub` is the
 * IdP's subject as in its ID tokens, draft-ietf-oauth-identity-assertion-authz-grant §3: so the person is
 * named as in the ID tokens, by the same claim).
 */
import type { OidcIdpConfig } from '../config/schema.ts';

/** The configured claim, when it is a non-empty well-formed string; undefined otherwise. */
export function subjectOf(
  idp: Pick<OidcIdpConfig, 'subject_claim'>,
  claims: Record<string, unknown>,
): string | undefined {
  const value = claims[idp.subject_claim];
  return typeof value === 'string' && value.length > 0 && value.isWellFormed() ? value : undefined;
}

/** Why a token names nobody baton can key an account by: for logs and `error_detail`, never the wire. */
export function noSubject(idp: Pick<OidcIdpConfig, 'subject_claim'>, what: string): string {
  return `${what} has no ${idp.subject_claim} claim that is a non-empty string (identity_providers[].subject_claim)`;
}

/** true when the account's IdP subject is the `sub` of the IdP's tokens */
export const keyedBySub = (idp: Pick<OidcIdpConfig, 'subject_claim'>) => idp.subject_claim === 'sub';
