/**
 * The audit events of the token endpoint, read from oidc-provider's request context: what was issued (grant
 * type, client, resource, scope, the access token's jti, the grant id, the actor chain) or refused (the wire
 * code and baton's typed reason). Ids only: the token itself is never read here.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Actor } from './grants/token-exchange/chain.ts';
import type { AuditEvent } from '../audit/record.ts';

interface IssuedToken {
  jti?: string;
  accountId?: string;
  clientId?: string;
  scope?: string;
  aud?: string | string[];
  grantId?: string;
  extra?: { act?: Actor; idp?: { iss: string; sub: string } };
}

/** the request id (`reqId` in the logs), as a member to spread into an event */
export const requestIdOf = (ctx: KoaContextWithOIDC): { request_id?: string } => {
  const id = (ctx.state as { reqId?: unknown } | undefined)?.reqId;
  return typeof id === 'string' ? { request_id: id } : {};
};

const grantTypeOf = (ctx: KoaContextWithOIDC): string | undefined => {
  const type = ctx.oidc?.params?.grant_type;
  return typeof type === 'string' ? type : undefined;
};

/** the access token the request issued (oidc-provider's own grants and baton's: grants/mint.ts) */
function issuedToken(ctx: KoaContextWithOIDC): IssuedToken | undefined {
  const entities = ctx.oidc.entities as { AccessToken?: IssuedToken; ClientCredentials?: IssuedToken };
  return entities.AccessToken ?? entities.ClientCredentials;
}

/** `token.issued`: a token response (grant.success). */
export function issuedEvent(ctx: KoaContextWithOIDC): AuditEvent {
  const token = issuedToken(ctx);
  const aud = Array.isArray(token?.aud) ? token.aud[0] : token?.aud;
  const event: AuditEvent = {
    type: 'token.issued',
    outcome: 'success',
    client: ctx.oidc.client?.clientId,
    grant_type: grantTypeOf(ctx),
    account: token?.accountId,
    idp: token?.extra?.idp,
    act: token?.extra?.act,
    resource: aud,
    scope: token?.scope,
    jti: token?.jti,
    gid: token?.grantId,
    ...requestIdOf(ctx),
  };
  return withoutUndefined(event);
}

/** `token.refused`: a refused token request (grant.error), with the wire code and baton's reason. */
export function refusedEvent(
  ctx: KoaContextWithOIDC,
  err: { error?: string; error_detail?: string },
  reason: string | undefined,
): AuditEvent {
  return withoutUndefined({
    type: 'token.refused',
    outcome: 'refused',
    client: ctx.oidc?.client?.clientId,
    grant_type: ctx.oidc ? grantTypeOf(ctx) : undefined,
    error: err.error,
    reason,
    ...requestIdOf(ctx),
  });
}

/** `token.revoked` for a whole grant (ids only: never the refresh token or code, whose id is the token itself) */
export function grantRevokedEvent(ctx: KoaContextWithOIDC, gid: string, reason: string): AuditEvent {
  return withoutUndefined({
    type: 'token.revoked',
    outcome: 'success',
    client: ctx.oidc?.client?.clientId,
    gid,
    reason,
    ...requestIdOf(ctx),
  });
}

function withoutUndefined(event: AuditEvent): AuditEvent {
  return Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined)) as unknown as AuditEvent;
}
