/**
 * The exchange itself (RFC 8693 §2.1–§2.2): an access token for the next hop, audience-restricted to it,
 * carrying the whole actor chain.
 *
 *   target          exactly one `resource`/`audience`, a configured resource (else invalid_target, §2.2.2)
 *   policy          `delegation`: actor → targets, scopes, max_chain, impersonation
 *   issued scope    requested ∩ Policy.exchangeCeiling; nothing left → invalid_scope
 *   exp             ≤ the subject token's exp
 *   act             { sub: actor, act: <subject's chain> }, whose first link is the client the user
 *                   authorized (§4.1); depth capped by the rule's max_chain
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ResourceConfig } from '../../../config/schema.ts';
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE } from '../../../consts.ts';
import { narrow } from '../../../policy/policy.ts';
import { requestedScope, stringList } from '../../../params.ts';
import { emitEvent } from '../../baton-events.ts';
import { dpopProof } from '../../internals.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { mintResourceToken } from '../mint.ts';
import { recordFor } from '../../audit-trail.ts';
import type { AuditEvent } from '../../../audit/record.ts';
import type { LineageRow } from '../../../audit/record.ts';
import { requestIdOf } from '../../audit-events.ts';
import { chainDepth, nest, type Actor } from './chain.ts';
import type { Subject } from './subject-token.ts';

/** RFC 8693 §2.1, RFC 8707 §2: the one resource the new token is for. */
function target(ctx: KoaContextWithOIDC, deps: GrantDeps): ResourceConfig {
  const params = ctx.oidc.params as Record<string, unknown>;
  const targets = [...new Set([...stringList(params.resource), ...stringList(params.audience)])];
  if (targets.length !== 1) throw refusal('target_count', `targets: ${targets.join(' ')}`);
  const resource = deps.policy().resources.get(targets[0]!);
  if (!resource) throw refusal('target_unknown', `unknown target ${targets[0]}`);
  return resource;
}

/** The claims of the new token besides the standard ones (README "Token shapes"). */
function claimsOf(subject: Subject, act: Actor | undefined): Record<string, unknown> {
  const { idp, roles, auth_time } = subject.claims;
  return {
    ...(act ? { act } : {}),
    ...(idp ? { idp } : {}),
    ...(Array.isArray(roles) ? { roles } : {}),
    ...(typeof auth_time === 'number' ? { auth_time } : {}),
    ...(subject.grantId ? { gid: subject.grantId } : {}),
  };
}

/** The audit record of a token a token exchange issues (or an ID-JAG identity chaining issues). */
export function tokenIssued(ctx: KoaContextWithOIDC, subject: Subject, actorId: string): AuditEvent {
  const idp = subject.claims.idp as { iss?: unknown; sub?: unknown } | undefined;
  return {
    type: 'token.issued',
    outcome: 'success',
    client: actorId,
    grant_type: TOKEN_EXCHANGE,
    account: subject.accountId,
    ...(idp && typeof idp.iss === 'string' && typeof idp.sub === 'string'
      ? { idp: { iss: idp.iss, sub: idp.sub } }
      : {}),
    parent_jti: subject.jti,
    ...(subject.grantId ? { gid: subject.grantId } : {}),
    ...requestIdOf(ctx),
  };
}

interface Issued {
  subject: Subject;
  actorId: string;
  resource: ResourceConfig;
  act: Actor | undefined;
  depth: number;
  scope: readonly string[];
  jti: string;
  /** seconds since the epoch */
  exp: number;
}

/** The new token's lineage row (its parent, its chain's root grant) and its audit record. */
function records(ctx: KoaContextWithOIDC, t: Issued): { lineage: LineageRow[]; audit: AuditEvent[] } {
  const lineage: LineageRow = {
    jti: t.jti,
    parent_jti: t.subject.jti,
    grant_id: t.subject.grantId ?? null,
    account_id: t.subject.accountId,
    actor: t.actorId,
    audience: t.resource.uri,
    depth: t.depth,
    expires_at: new Date(t.exp * 1000),
  };
  const audit: AuditEvent = {
    ...tokenIssued(ctx, t.subject, t.actorId),
    ...(t.act ? { act: t.act } : {}),
    resource: t.resource.uri,
    scope: t.scope.join(' '),
    jti: t.jti,
    details: { depth: t.depth },
  };
  return { lineage: [lineage], audit: [audit] };
}

export async function exchange(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  subject: Subject,
  actorId: string,
  workload: string | undefined,
): Promise<void> {
  const resource = target(ctx, deps);
  const rule = deps.policy().delegationRule(actorId, resource.uri);
  if (!rule) throw refusal('delegation_missing', `no delegation allows ${actorId} → ${resource.uri}`);

  // RFC 8693 §4.4: a subject token that names who may act for it is honoured
  if (subject.mayAct && subject.mayAct.sub !== actorId)
    throw refusal('may_act_mismatch', `may_act names ${subject.mayAct.sub}, not ${actorId}`);

  // the current actor: the client, or the workload it vouches for (RFC 8693 §4.1 allows more than sub)
  const act = rule.impersonation ? undefined : nest(workload ?? actorId, subject.chain);
  const depth = chainDepth(act);
  if (depth > rule.max_chain) throw refusal('chain_too_long', `chain depth ${depth} > max_chain ${rule.max_chain}`);

  const requested = requestedScope((ctx.oidc.params as Record<string, unknown>).scope);
  const scope = narrow(deps.policy().exchangeCeiling(rule, resource, subject), requested);
  if (scope.length === 0) throw refusal('exchange_scope', undefined, requested?.join(' ') ?? '');

  const now = Math.floor(Date.now() / 1000);
  const ttl = Math.min(resource.access_token_ttl ?? deps.config.tokens.access_token_ttl, subject.exp - now);
  if (ttl <= 0) throw refusal('subject_token_invalid', 'subject token expires now');

  // RFC 9449 §5: a request with a DPoP proof gets a token bound to its key (cnf.jkt)
  const dPoP = await dpopProof(ctx.oidc.provider, ctx, actorId);
  const minted = await mintResourceToken(
    ctx,
    {
      accountId: subject.accountId,
      gty: TOKEN_EXCHANGE,
      scope,
      resource,
      ttl,
      iat: now,
      alg: deps.config.keys.algorithm,
      jkt: dPoP?.thumbprint,
      claims: claimsOf(subject, act),
      statusLists: deps.statusLists,
    },
    // the lineage row and the audit record are written alongside the signing, in one transaction (revoking
    // the parent reaches this token; the answer leaves only once both are durable)
    (jti, statuses) =>
      recordFor(ctx, deps.audit, {
        ...records(ctx, { subject, actorId, resource, act, depth, scope, jti, exp: now + ttl }),
        statuses,
      }),
  );
  emitEvent(ctx, 'token_exchange.issued', {
    actor: actorId,
    audience: resource.uri,
    depth,
    parent: subject.jti,
    jti: minted.jti,
  });
  ctx.body = {
    access_token: minted.value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: minted.tokenType,
    expires_in: ttl,
    scope: scope.join(' '),
  };
}
