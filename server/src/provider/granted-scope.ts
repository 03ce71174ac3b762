/**
 * The scope of an access token for one resource, decided in getResourceServerInfo before oidc-provider issues
 * the token, for its own grants (client_credentials, authorization_code, refresh_token; baton's token exchange
 * and jwt-bearer grants decide theirs in provider/grants/, with the same Policy ceilings). The rule: a token always carries
 * at least one scope of its resource. A token with an empty scope would be a credential for the audience that
 * grants nothing baton decided, yet a resource server checking only `aud` would accept it; so it is never
 * issued (RFC 6749 §3.3: the authorization server fails the request rather than grant nothing).
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { defaultRequestedScope } from './internals.ts';
import { splitScope } from '../params.ts';
import { refusal } from './refusals.ts';

/**
 * client_credentials: the resource's scopes configured for the client (`clients.static[].scopes`), narrowed
 * to the requested ones. Without `scope`, the client gets all of them (RFC 6749 §3.3's pre-defined default,
 * as an authorization request without scope asks for all of a resource's scopes). Nothing left →
 * `invalid_scope` (RFC 6749 §5.2): asked-for scopes none of which may be granted, or a client configured
 * with no scope of this resource at all (a registered client never has one: baton_scopes is static-only).
 */
export function clientCredentialsScope(
  ctx: KoaContextWithOIDC,
  resource: { uri: string },
  client: { clientId: string },
  /** Policy.clientCeiling */
  scopes: readonly string[],
): string[] {
  const requested = splitScope(ctx.oidc.params?.scope);
  if (requested.length > 0) {
    if (!requested.some((s) => scopes.includes(s)))
      throw refusal('client_scope_not_allowed', undefined, requested.join(' '));
    return [...scopes];
  }
  if (scopes.length === 0) {
    // no `scope` member in the body: nothing was asked for (oidc-provider leaves it out when undefined)
    throw refusal('client_scope_none', `client ${client.clientId} has no scope of ${resource.uri} configured`);
  }
  defaultRequestedScope(ctx, scopes.join(' '));
  return [...scopes];
}

interface UserGrantEntities {
  AuthorizationCode?: { scopes: Set<string> };
  RefreshToken?: { scopes: Set<string> };
  Grant?: { getResourceScopeFiltered(resource: string, filter: string[]): string };
}

/**
 * authorization_code and refresh_token: the token gets what the code or refresh token holds (or, at a
 * refresh, the narrower `scope` asked for), as far as the grant records it for this resource and the user's
 * roles grant it now (`allowed`, recomputed at every use). Nothing left → `invalid_grant` (RFC 6749 §5.2:
 * the authorization no longer holds for anything): the client signs the user in again. At a refresh the
 * refresh token has already been rotated by then (oidc-provider 9.13 rotates before it asks for the
 * resource), so the refused refresh token is spent, which `invalid_grant` tells the client.
 */
export function userGrantScope(
  ctx: KoaContextWithOIDC,
  resource: string,
  grantType: 'authorization_code' | 'refresh_token',
  /** Policy.userCeiling for the user's roles now */
  allowed: string[],
): string[] {
  const entities = ctx.oidc.entities as UserGrantEntities;
  const source = grantType === 'refresh_token' ? entities.RefreshToken : entities.AuthorizationCode;
  const narrowed = grantType === 'refresh_token' ? splitScope(ctx.oidc.params?.scope) : [];
  const asked = narrowed.length > 0 ? new Set(narrowed) : (source?.scopes ?? new Set<string>());
  const recorded = new Set(splitScope(entities.Grant?.getResourceScopeFiltered(resource, allowed)));
  const granted = allowed.filter((s) => asked.has(s) && recorded.has(s));
  if (granted.length === 0) {
    throw refusal(
      'user_scope_none',
      grantType === 'refresh_token'
        ? 'the roles no longer grant any scope asked of this refresh token'
        : 'the roles no longer grant any scope of this authorization code',
    );
  }
  return allowed;
}
