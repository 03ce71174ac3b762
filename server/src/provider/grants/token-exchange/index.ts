/**
 * RFC 8693 token exchange (`urn:ietf:params:oauth:grant-type:token-exchange`): an MCP server (or any
 * service) exchanges the token it received for a token to call the next hop, audience-restricted to that
 * hop, carrying the whole actor chain; or, with `requested_token_type` ID-JAG, for an ID-JAG to another
 * trust domain (identity chaining).
 *
 *   subject_token   subject-token.ts   who the new token is about (baton's access token or an IdP's ID token)
 *   actor           actor-token.ts     the authenticated client; an actor_token, if sent, must be its own
 *   the exchange    exchange.ts        target, delegation rule, chain, scope, lifetime, the token
 *   ID-JAG          identity-chaining.ts
 *
 * Errors per RFC 8693 §2.2.2 (provider/refusals.ts): an unacceptable subject or actor token is
 * invalid_request; a target baton will not issue for is invalid_target. Reasons go to the log, never secrets.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACCESS_TOKEN_TYPE, ID_JAG_TOKEN_TYPE, JWT_TOKEN_TYPE, TOKEN_EXCHANGE } from '../../../consts.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { verifyActorToken } from './actor-token.ts';
import { exchange } from './exchange.ts';
import { issueIdJag } from './identity-chaining.ts';
import { checkSubjectAccount, verifySubjectToken } from './subject-token.ts';
import { oneString } from '../../../params.ts';

export const grantType = TOKEN_EXCHANGE;
export const parameters = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'resource',
  'audience',
  'scope',
] as const;
/** RFC 8693 §2.1: `resource` and `audience` may be repeated (baton then refuses more than one target) */
export const allowedDuplicates = ['resource', 'audience'] as const;

const REQUESTED_TYPES: ReadonlySet<string> = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_JAG_TOKEN_TYPE]);

export async function handler(ctx: KoaContextWithOIDC, deps: GrantDeps): Promise<void> {
  const params = ctx.oidc.params as Record<string, unknown>;
  const actorId = ctx.oidc.client!.clientId;
  const subjectToken = oneString(params.subject_token);
  const subjectType = oneString(params.subject_token_type);
  if (!subjectToken || !subjectType) throw refusal('subject_token_missing');
  const requestedType = oneString(params.requested_token_type);
  if (requestedType && !REQUESTED_TYPES.has(requestedType))
    throw refusal('requested_token_type_unsupported', `requested_token_type ${requestedType}`);

  const subject = await verifySubjectToken(ctx, deps, subjectType, subjectToken, actorId);
  const [workload] = await Promise.all([verifyActorToken(ctx, deps, actorId), checkSubjectAccount(deps, subject)]);

  if (requestedType === ID_JAG_TOKEN_TYPE) return issueIdJag(ctx, deps, subject, actorId);
  return exchange(ctx, deps, subject, actorId, workload);
}
