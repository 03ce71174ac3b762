/**
 * Identity chaining into another trust domain (draft-ietf-oauth-identity-chaining §2.3, ID-JAG §4.3): a token
 * exchange with `requested_token_type` ID-JAG. baton, as the user's IdP, issues an ID-JAG whose `aud` is a
 * configured foreign authorization server (`identity_chaining`), signed like its access tokens. The
 * response's token_type is N_A: the ID-JAG is a grant, not an access token (RFC 8693 §2.2.1).
 */
import { importJWK, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ID_JAG_TOKEN_TYPE } from '../../../consts.ts';
import { narrow } from '../../../policy/policy.ts';
import { requestedScope, stringList } from '../../../params.ts';
import { emitEvent } from '../../baton-events.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { nest } from './chain.ts';
import { recordFor } from '../../audit-trail.ts';
import { tokenIssued } from './exchange.ts';
import type { Subject } from './subject-token.ts';

export async function issueIdJag(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  subject: Subject,
  actorId: string,
): Promise<void> {
  const params = ctx.oidc.params as Record<string, unknown>;
  const audiences = stringList(params.audience);
  if (audiences.length !== 1) throw refusal('chaining_audience_count', `audiences: ${audiences.join(' ')}`);
  const rule = deps.policy().chainingRule(actorId, audiences[0]!);
  if (!rule) throw refusal('chaining_rule_missing', `no identity_chaining rule lets ${actorId} reach ${audiences[0]}`);
  const requested = requestedScope(params.scope);
  const scope = narrow(deps.policy().chainingCeiling(rule), requested);
  if (requested && scope.length === 0) throw refusal('chaining_scope', undefined, requested.join(' '));

  const resources = stringList(params.resource);
  const now = Math.floor(Date.now() / 1000);
  const exp = Math.min(now + rule.lifetime_seconds, subject.exp);
  const { algorithm } = deps.config.keys;
  const jti = randomUUID();
  const jag = await new SignJWT({
    client_id: actorId,
    ...(resources.length === 1 ? { resource: resources[0] } : resources.length > 1 ? { resource: resources } : {}),
    ...(scope.length ? { scope: scope.join(' ') } : {}),
    act: nest(actorId, subject.chain),
    ...(typeof subject.claims.auth_time === 'number' ? { auth_time: subject.claims.auth_time } : {}),
  })
    .setProtectedHeader({ alg: algorithm, typ: 'oauth-id-jag+jwt', kid: deps.signingKey.kid! })
    .setIssuer(deps.config.issuer)
    .setSubject(subject.accountId)
    .setAudience(rule.audience)
    .setJti(jti)
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .sign(await importJWK(deps.signingKey, algorithm));
  await recordFor(ctx, deps.audit, {
    audit: [
      {
        ...tokenIssued(ctx, subject, actorId),
        type: 'id_jag.issued',
        resource: rule.audience,
        ...(scope.length ? { scope: scope.join(' ') } : {}),
        jti,
      },
    ],
  });
  emitEvent(ctx, 'id_jag.issued', { actor: actorId, audience: rule.audience, parent: subject.jti });
  ctx.body = {
    access_token: jag,
    issued_token_type: ID_JAG_TOKEN_TYPE,
    token_type: 'N_A',
    expires_in: exp - now,
    ...(scope.length ? { scope: scope.join(' ') } : {}),
  };
}
