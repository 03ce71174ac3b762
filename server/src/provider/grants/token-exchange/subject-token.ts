/**
 * The subject_token of a token exchange (RFC 8693 §2.1): who the new token is about.
 *
 *   an access token baton issued (`access_token` or `jwt` type), addressed to a resource the actor serves
 *     (no pivoting with a stolen token), anchored at an IdP (a user, not a client), still active;
 *   an ID token (`id_token` type) of an enabled upstream IdP whose audience is the actor (OIDC Core §2),
 *     its user the account of the claim `identity_providers[].subject_claim` names (idp/subject-claim.ts).
 *
 * Anything else is `invalid_request` (RFC 8693 §2.2.2) with its reason logged.
 */
import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { accountIdFor } from '../../../accounts/store.ts';
import { noSubject, subjectOf } from '../../../idp/subject-claim.ts';
import { ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE } from '../../../consts.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { cleanChain, type Actor } from './chain.ts';
import { oneString } from '../../../params.ts';

export interface Subject {
  accountId: string;
  scope: string[];
  audience: string | undefined;
  exp: number;
  /** the chain to nest under the new actor */
  chain: Actor | undefined;
  mayAct: Actor | undefined;
  grantId: string | undefined;
  jti: string;
  claims: { idp?: unknown; roles?: unknown; auth_time?: unknown };
  /** true when the user's account was already found enabled */
  accountChecked: boolean;
}

export async function verifySubjectToken(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  type: string,
  token: string,
  actorId: string,
): Promise<Subject> {
  if (type === ACCESS_TOKEN_TYPE || type === JWT_TOKEN_TYPE) return ownAccessToken(ctx, deps, token, actorId);
  if (type === ID_TOKEN_TYPE) return idToken(deps, token, actorId);
  throw refusal('subject_token_type_unsupported', `subject_token_type ${type}`);
}

async function ownAccessToken(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  token: string,
  actorId: string,
): Promise<Subject> {
  const verified = await deps.state.verifyOwn(token);
  if ('reason' in verified) throw refusal('subject_token_invalid', `subject_token: ${verified.reason}`);
  const { payload } = verified;
  const aud = typeof payload.aud === 'string' ? payload.aud : undefined;
  const served = aud ? deps.policy().resources.get(aud) : undefined;
  if (!served || served.client_id !== actorId) {
    // a client may only exchange tokens addressed to the resource it is (no pivoting with stolen tokens)
    throw refusal('subject_token_not_for_actor', `subject audience ${String(payload.aud)} is not served by ${actorId}`);
  }
  if (!payload.idp) throw refusal('subject_not_a_user', 'subject has no idp anchor (a client credentials token?)');
  const inactive = await deps.state.inactiveReason(ctx.oidc.provider, payload);
  if (inactive === 'account disabled')
    throw refusal('subject_account_disabled', `account ${String(payload.sub)} is disabled`);
  if (inactive) throw refusal('subject_token_revoked', inactive);
  return {
    accountId: String(payload.sub),
    scope: oneString(payload.scope)?.split(' ') ?? [],
    audience: aud,
    exp: payload.exp!,
    chain: cleanChain(payload.act) ?? { sub: String(payload.client_id) },
    mayAct: cleanChain(payload.may_act),
    grantId: oneString(payload.gid),
    jti: String(payload.jti),
    claims: { idp: payload.idp, roles: payload.roles, auth_time: payload.auth_time },
    accountChecked: true,
  };
}

async function idToken(deps: GrantDeps, token: string, actorId: string): Promise<Subject> {
  let iss: string | undefined;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw refusal('subject_token_invalid', 'subject_token is not a JWT');
  }
  const idp = deps.idps.list.find((i) => i.type === 'oidc' && i.issuer === iss);
  if (!idp || idp.type !== 'oidc' || !idp.enabled)
    throw refusal('subject_token_invalid', `ID token issuer ${String(iss)} is not a trusted, enabled IdP`);
  let payload: JWTPayload;
  try {
    // the IdP's one cached key set (server/src/idp/keys.ts), as at sign-in and ID-JAG redemption
    ({ payload } = await jwtVerify(token, deps.idps.keys(idp), {
      issuer: idp.issuer,
      audience: actorId, // OIDC Core §2: the ID token was issued to the client now presenting it
      algorithms: deps.config.id_jag.algorithms,
      requiredClaims: ['sub', 'exp', 'iat'],
    }));
  } catch (err) {
    throw refusal('subject_token_invalid', `ID token: ${(err as { code?: string }).code ?? (err as Error).message}`);
  }
  // RFC 8693 §2.2.2: a subject token naming nobody baton keys accounts by is invalid_request
  const subject = subjectOf(idp, payload);
  if (subject === undefined) throw refusal('subject_token_invalid', noSubject(idp, 'the ID token'));
  return {
    accountId: accountIdFor(idp.issuer, subject),
    scope: [],
    audience: undefined,
    exp: payload.exp!,
    chain: undefined, // the app the user signed in to is the actor itself: the chain starts with it
    mayAct: cleanChain(payload.may_act),
    grantId: undefined,
    jti: String(payload.jti ?? `id_token:${String(payload.sub)}:${String(payload.iat)}`),
    claims: { idp: { iss: idp.issuer, sub: subject }, auth_time: payload.auth_time },
    accountChecked: false,
  };
}

/**
 * The user behind the subject, enabled: baton's own tokens had their account checked with their revocation
 * state; an ID token's user is checked here.
 */
export async function checkSubjectAccount(deps: GrantDeps, subject: Subject): Promise<void> {
  if (subject.accountChecked) return;
  const account = await deps.accounts.find(subject.accountId);
  if (!account || account.disabled)
    throw refusal('subject_account_disabled', `account ${subject.accountId} is disabled or unknown`);
}
