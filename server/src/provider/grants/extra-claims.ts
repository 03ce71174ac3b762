import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ResourceConfig } from '../../config/schema.ts';
/**
 * Claims a custom grant decided for one access token (act, idp, roles, auth_time, gid), handed to
 * oidc-provider's extraTokenClaims hook, which runs inside `token.save()`.
 */
const pending = new WeakMap<object, Record<string, unknown>>();

export function setTokenClaims(token: object, claims: Record<string, unknown>): void {
  pending.set(token, claims);
}

export function tokenClaimsFor(token: object): Record<string, unknown> | undefined {
  return pending.get(token);
}

/**
 * An access token of one of baton's own grants: an RFC 9068 `at+jwt` for exactly one resource, with the
 * claims the grant decided, bound to a DPoP key when the request carried a proof (RFC 9449 §5).
 */
export function resourceAccessToken(
  ctx: KoaContextWithOIDC,
  opts: {
    accountId: string;
    gty: string;
    scope: string[];
    resource: ResourceConfig;
    ttl: number;
    alg: 'ES256' | 'EdDSA';
    jkt: string | undefined;
    claims: Record<string, unknown>;
  },
) {
  const { provider, client } = ctx.oidc;
  const at = new provider.AccessToken({
    accountId: opts.accountId,
    client,
    gty: opts.gty,
    scope: opts.scope.join(' '),
  } as unknown as ConstructorParameters<typeof provider.AccessToken>[0]);
  at.resourceServer = new provider.ResourceServer(opts.resource.uri, {
    scope: opts.resource.scopes.join(' '),
    audience: opts.resource.uri,
    accessTokenTTL: opts.ttl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: opts.alg } },
  });
  (at as unknown as { expiresIn: number }).expiresIn = opts.ttl;
  if (opts.jkt) at.setThumbprint('jkt', opts.jkt);
  setTokenClaims(at, opts.claims);
  ctx.oidc.entity('AccessToken', at);
  return at;
}
