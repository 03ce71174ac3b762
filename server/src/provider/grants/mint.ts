/**
 * The one place an access token of baton's own grants (token exchange, ID-JAG redemption) is made: an
 * RFC 9068 `at+jwt` for exactly one resource (RFC 8707), with the claims the grant decided, bound to a DPoP
 * key when the request carried a proof (RFC 9449 §5), signed and stored by oidc-provider.
 *
 * The claims travel on the token itself, as its `extra` member (one of oidc-provider's AccessToken payload
 * fields). oidc-provider 9.13 gives no way to put them into the JWT without its `extraTokenClaims` hook:
 * formats/opaque.js overwrites `extra` with whatever the hook returns, inside `token.save()`. So the hook
 * (provider/configuration.ts) hands them back for these grants: `mintedClaims`.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ResourceConfig } from '../../config/schema.ts';
import { JWT_BEARER, TOKEN_EXCHANGE } from '../../consts.ts';
import type { StatusEntryRow } from '../../status-list/entry.ts';
import type { StatusIssuer } from '../../status-list/issue.ts';
import { assignTokenId } from '../internals.ts';

/** the grants whose access tokens carry claims decided by the grant itself */
const MINTING_GRANTS: ReadonlySet<string> = new Set([TOKEN_EXCHANGE, JWT_BEARER]);

export interface MintRequest {
  accountId: string;
  /** the grant type, recorded as the token's `gty` */
  gty: string;
  scope: readonly string[];
  resource: ResourceConfig;
  /** seconds */
  ttl: number;
  /**
   * the instant (epoch seconds) `ttl` was counted from: the token's `iat`, so that `exp` is exactly
   * `iat + ttl` however long the signing waits (an exchange's `exp` never passes its subject token's,
   * RFC 8693 §2.2.1 / baton's rule); now when not given
   */
  iat?: number;
  alg: 'ES256' | 'EdDSA';
  /** RFC 9449 §6.1: the DPoP key's thumbprint, for `cnf.jkt` */
  jkt: string | undefined;
  /** baton's claims (act, idp, roles, auth_time, gid: README "Token shapes"); standard claims win over them */
  claims: Record<string, unknown>;
  /** the Token Status List slots (draft-ietf-oauth-status-list-20 §6.2: every token gets one) */
  statusLists: StatusIssuer;
}

export interface Minted {
  value: string;
  jti: string;
  tokenType: string;
}

/**
 * Signs and stores the token, with its `status` claim. `alongside(jti, statuses)` runs while it is saved:
 * the grant writes its records there, and with them the token's status list entry (one batch of the audit
 * writer); the token is returned only once both are done.
 */
export async function mintResourceToken(
  ctx: KoaContextWithOIDC,
  request: MintRequest,
  alongside: (jti: string, statuses: StatusEntryRow[]) => Promise<unknown>,
): Promise<Minted> {
  const { provider, client } = ctx.oidc;
  const iat = request.iat ?? Math.floor(Date.now() / 1000);
  const at = new provider.AccessToken({
    accountId: request.accountId,
    client,
    gty: request.gty,
    scope: request.scope.join(' '),
    extra: request.claims,
    expiresIn: request.ttl,
    resourceServer: new provider.ResourceServer(request.resource.uri, {
      scope: request.resource.scopes.join(' '),
      audience: request.resource.uri,
      accessTokenTTL: request.ttl,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: request.alg } },
    }),
  } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
  // oidc-provider takes a token's iat and exp when it has them (formats/opaque.js), else the time it is
  // formatted (and that + expiresIn)
  Object.assign(at, { iat, exp: iat + request.ttl });
  if (request.jkt) at.setThumbprint('jkt', request.jkt);
  const gid = request.claims.gid;
  const { claim, entry } = await request.statusLists.issue({
    jti: assignTokenId(at as unknown as Parameters<typeof assignTokenId>[0]),
    exp: iat + request.ttl,
    accountId: request.accountId,
    clientId: client?.clientId,
    grantId: typeof gid === 'string' ? gid : null,
  });
  // the hook hands `extra` back into the JWT (mintedClaims)
  (at as unknown as { extra: Record<string, unknown> }).extra = { ...request.claims, status: claim };
  ctx.oidc.entity('AccessToken', at);
  const [value] = await Promise.all([at.save(), alongside(at.jti, [entry])]);
  return { value, jti: at.jti, tokenType: at.tokenType };
}

/** Whether a grant type is one of baton's (their tokens' audit records are written by the grant itself). */
export const isMintingGrant = (gty: unknown): boolean => typeof gty === 'string' && MINTING_GRANTS.has(gty);

/** For the `extraTokenClaims` hook: the claims a minting grant decided for this token, if it is one of theirs. */
export function mintedClaims(token: { gty?: unknown; extra?: unknown }): Record<string, unknown> | undefined {
  if (!isMintingGrant(token.gty)) return undefined;
  return token.extra && typeof token.extra === 'object' ? (token.extra as Record<string, unknown>) : {};
}
