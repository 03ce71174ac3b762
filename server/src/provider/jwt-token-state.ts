/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of baton's JWT access tokens.
 */
import type { JWTPayload } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditEvent } from '../audit/record.ts';
import type { Policy } from '../policy/policy.ts';
import { recordFor, type AuditSink } from './audit-trail.ts';
import { requestIdOf } from './audit-events.ts';
import { structuredTokenAsUnknown } from './internals.ts';
import type { TokenState } from './token-state.ts';

const INTROSPECTED = [
  'iss',
  'sub',
  'aud',
  'client_id',
  'scope',
  'exp',
  'iat',
  'nbf',
  'jti',
  'act',
  'cnf',
  'idp',
  'roles',
  'client_kind',
  'auth_time',
];

/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of baton's JWT access tokens, after oidc-provider
 * (which authenticates the client, and answers `{active:false}` / 200 for tokens it does not store).
 * Only the client the token was issued to, or the resource server it is for, may introspect or revoke it
 * (RFC 7662 §4, RFC 7009 §2.1); anyone else learns `active: false`. Revocation reaches every token
 * exchanged from the revoked one.
 *
 * Audit (issue #13): `introspection.inactive` and `token.revoked` records, awaited before the answer; they
 * hand nothing out, so a failed write is logged and the answer stays (RFC 7009 §2.2: revocation answers 200).
 */
export function jwtTokenState(state: TokenState, policy: () => Policy, audit?: AuditSink) {
  const record = (ctx: KoaContextWithOIDC, event: AuditEvent) =>
    audit && void recordFor(ctx, audit, { audit: [{ ...event, ...requestIdOf(ctx) }] }, { guards: false });
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const introspection = ctx.path === '/token/introspection';
    if ((!introspection && ctx.path !== '/token/revocation') || ctx.method !== 'POST') return;
    const client = ctx.oidc?.client;
    const token = ctx.oidc?.params?.token;
    if (!client || typeof token !== 'string') return;
    // oidc-provider refuses JWTs (after authenticating the client) with unsupported_token_type: they are ours
    if (!structuredTokenAsUnknown(ctx, introspection)) {
      const body = ctx.body as { active?: boolean } | undefined;
      if (ctx.status !== 200 || (introspection && body?.active !== false)) return;
    }
    const payload = await state.verify(token);
    if (!payload) return;
    const rs = typeof payload.aud === 'string' ? policy().resources.get(payload.aud) : undefined;
    if (payload.client_id !== client.clientId && rs?.client_id !== client.clientId) {
      // RFC 7662 §4: neither the token's client nor its resource asked; it learns `active: false`
      if (introspection) record(ctx, inactiveEvent(payload, client.clientId, 'client_not_allowed'));
      return;
    }
    const log = (ctx.state as { log?: { info(o: object, m: string): void } }).log;
    if (introspection) {
      const reason = await state.inactiveReason(ctx.oidc.provider, payload);
      if (reason) {
        log?.info({ jti: payload.jti, reason }, 'introspection.inactive');
        record(ctx, inactiveEvent(payload, client.clientId, reason));
        return;
      }
      const claims = Object.fromEntries(
        INTROSPECTED.filter((k) => payload[k] !== undefined).map((k) => [k, payload[k]]),
      );
      ctx.body = { active: true, token_type: payload.cnf ? 'DPoP' : 'Bearer', ...claims };
    } else {
      const n = await state.revoke(payload);
      log?.info({ jti: payload.jti, revoked: n, by: client.clientId }, 'token.revoked');
      record(ctx, {
        type: 'token.revoked',
        outcome: 'success',
        client: client.clientId,
        ...tokenIds(payload),
        reason: 'revoked',
        details: { descendants: n - 1 },
      });
    }
  };
}

/** the token's ids as the audit record names them: its jti, user, resource and grant */
function tokenIds(p: JWTPayload): Pick<AuditEvent, 'jti' | 'account' | 'resource' | 'gid'> {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const ids = { jti: str(p.jti), account: p.client_id === p.sub ? undefined : str(p.sub), resource: str(p.aud) };
  const gid = str((p as { gid?: unknown }).gid);
  return Object.fromEntries(Object.entries({ ...ids, gid }).filter(([, v]) => v !== undefined));
}

/** `introspection.inactive`: who asked (client), about which token, and why it is not active */
const inactiveEvent = (p: JWTPayload, asker: string, reason: string): AuditEvent => ({
  type: 'introspection.inactive',
  outcome: 'refused',
  client: asker,
  ...tokenIds(p),
  reason,
});
