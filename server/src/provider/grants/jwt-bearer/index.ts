/**
 * ID-JAG redemption: the RFC 7523 jwt-bearer grant under draft-ietf-oauth-identity-assertion-authz-grant-04
 * (§4.4) and the MCP Enterprise-Managed Authorization profile (XAA). An enterprise IdP that already signed
 * the user in issues an ID-JAG for baton; the client redeems it here, with no browser.
 *
 *   the assertion   assertion.ts   typ, algorithm, signature by an accepted IdP, aud, client_id, lifetime
 *   the resource    one of baton's resources, agreeing with the ID-JAG's (EMA §7.6)
 *   the user        resolved from (iss, the claim identity_providers[].subject_claim names: `sub` unless set),
 *                   enabled (idp/subject-claim.ts: §3 makes the ID-JAG's `sub` the IdP's as in its ID tokens)
 *   single use      jti single-use until exp across every process (EMA §7.4.2 makes it REQUIRED, where
 *                   ID-JAG §4.4.3 would allow re-use)
 *   issued scope    requested ∩ Policy.idJagCeiling (the ID-JAG's ∩ the resource's ∩ the roles', EMA §7.2.1)
 *   key binding     an ID-JAG with cnf.jkt needs a DPoP proof by that key (ID-JAG §9.8)
 * No refresh token (ID-JAG §4.4.3).
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { accountIdFor } from '../../../accounts/store.ts';
import { noSubject, subjectOf } from '../../../idp/subject-claim.ts';
import type { ResourceConfig } from '../../../config/schema.ts';
import { JWT_BEARER } from '../../../consts.ts';
import { splitScope } from '../../../params.ts';
import { narrow } from '../../../policy/policy.ts';
import { emitEvent } from '../../baton-events.ts';
import { dpopProof } from '../../internals.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { mintResourceToken } from '../mint.ts';
import { recordFor } from '../../audit-trail.ts';
import { requestIdOf } from '../../audit-events.ts';
import type { AuditEvent } from '../../../audit/record.ts';
import { replayKey } from '../../../idp/replay-key.ts';
import { verifyIdJag, type VerifiedIdJag } from './assertion.ts';

export const grantType = JWT_BEARER;
export const parameters = ['assertion', 'scope', 'resource'] as const;

/** EMA §7.6: the resource is one of baton's resources, and agrees with the request's. */
function resourceOf(deps: GrantDeps, claims: VerifiedIdJag['claims'], asked: unknown): ResourceConfig {
  const named = Array.isArray(claims.resource)
    ? claims.resource
    : claims.resource === undefined
      ? []
      : [claims.resource];
  const uri = typeof asked === 'string' ? asked : named.length === 1 ? String(named[0]) : undefined;
  if (!uri) throw refusal('id_jag_resource', 'no single resource in the ID-JAG or the request');
  if (named.length > 0 && !named.includes(uri))
    throw refusal('id_jag_resource', `resource ${uri} is not in the ID-JAG`);
  const resource = deps.policy().resources.get(uri);
  if (!resource) throw refusal('id_jag_resource', `resource ${uri} is not configured`);
  return resource;
}

/** EMA §7.4.2: single use across every process, until exp; the key is the (iss, jti) pair, hashed. */
async function claimOnce(deps: GrantDeps, { idp, claims }: VerifiedIdJag): Promise<string> {
  const key = replayKey(idp.issuer, claims.jti);
  const ttl = Math.max(1, claims.exp - Math.floor(Date.now() / 1000) + 5);
  if (!(await deps.replay.claim(key, { jti: key, iss: idp.issuer }, ttl)))
    throw refusal('id_jag_replayed', `ID-JAG ${key} was already redeemed`);
  return key;
}

/** The audit records of a redemption: the ID-JAG redeemed (its single-use record id), the token issued. */
function redemption(
  ctx: KoaContextWithOIDC,
  r: {
    account: string;
    idp: { iss: string; sub: string };
    resource: ResourceConfig;
    scope: string[];
    key: string;
    jti: string;
  },
): AuditEvent[] {
  const common = {
    client: ctx.oidc.client!.clientId,
    account: r.account,
    idp: r.idp,
    resource: r.resource.uri,
    ...requestIdOf(ctx),
  };
  return [
    { type: 'id_jag.redeemed', outcome: 'success', ...common, details: { record: r.key } },
    {
      type: 'token.issued',
      outcome: 'success',
      ...common,
      grant_type: JWT_BEARER,
      scope: r.scope.join(' '),
      jti: r.jti,
    },
  ];
}

export async function handler(ctx: KoaContextWithOIDC, deps: GrantDeps): Promise<void> {
  const params = ctx.oidc.params as Record<string, unknown>;
  const assertion = typeof params.assertion === 'string' ? params.assertion : '';
  if (!assertion) throw refusal('assertion_missing');
  const client = ctx.oidc.client!;
  const jag = await verifyIdJag(deps, assertion, client.clientId);
  const { idp, claims } = jag;
  const resource = resourceOf(deps, claims, params.resource);

  // the person as the IdP's ID tokens name them (idp/subject-claim.ts): RFC 7521 §5.2 invalid_grant without it
  const subject = subjectOf(idp, claims);
  if (subject === undefined) throw refusal('id_jag_user', noSubject(idp, 'the ID-JAG'));
  // the account state, as introspection sees it: a disabling reaches this process within STATE_CACHE_MS
  const accountId = accountIdFor(idp.issuer, subject);
  const account = await deps.cache.accounts.get(accountId, () => deps.accounts.find(accountId));
  if (!account || account.disabled)
    throw refusal('id_jag_user', `user ${subject} of ${idp.issuer} is unknown or disabled`);
  const key = await claimOnce(deps, jag);

  const policy = deps.policy();
  const roles = policy.rolesFor(idp.id, account.groups);
  const jagScope = typeof claims.scope === 'string' ? claims.scope.split(' ') : undefined;
  const requested = typeof params.scope === 'string' ? splitScope(params.scope) : undefined;
  const ceiling = policy.idJagCeiling(resource, jagScope, roles);
  const scope = narrow(ceiling, requested ?? jagScope);
  if (scope.length === 0)
    throw refusal('id_jag_scope', undefined, (requested ?? jagScope ?? resource.scopes).join(' '));

  // ID-JAG §9.8: an ID-JAG bound to a key (cnf.jkt) needs a DPoP proof by that key; a proof binds the token
  const dPoP = await dpopProof(ctx.oidc.provider, ctx, client.clientId);
  const cnf = (claims.cnf as { jkt?: string } | undefined)?.jkt;
  if (cnf && dPoP?.thumbprint !== cnf)
    throw refusal('id_jag_key_binding', 'the ID-JAG is bound to a key (cnf.jkt) and no matching DPoP proof was sent');
  const ttl = resource.access_token_ttl ?? deps.config.tokens.access_token_ttl;
  const idpClaim = { iss: idp.issuer, sub: subject };
  const minted = await mintResourceToken(
    ctx,
    {
      accountId: account.id,
      gty: JWT_BEARER,
      scope,
      resource,
      ttl,
      alg: deps.config.keys.algorithm,
      jkt: dPoP?.thumbprint,
      claims: {
        idp: idpClaim,
        roles: policy.rolesGranting(roles, scope),
        ...(typeof claims.auth_time === 'number' ? { auth_time: claims.auth_time } : {}),
      },
      statusLists: deps.statusLists,
    },
    // the audit records (the redemption, the token) are durable before the answer leaves
    (jti, statuses) =>
      recordFor(ctx, deps.audit, {
        audit: redemption(ctx, { account: account.id, idp: idpClaim, resource, scope, key, jti }),
        statuses,
      }),
  );
  emitEvent(ctx, 'id_jag.redeemed', { issuer: idp.issuer, record: key, audience: resource.uri, jti: minted.jti });
  // ID-JAG §4.4.1 (5): the granted resource and scope are returned in the token response
  ctx.body = {
    access_token: minted.value,
    token_type: minted.tokenType,
    expires_in: ttl,
    scope: scope.join(' '),
    resource: resource.uri,
  };
}
