/**
 * RFC 8707 resource indicators for oidc-provider's own grants (authorization_code, refresh_token,
 * client_credentials): the one resource a token is for, its audience, lifetime and scope. MCP authorization
 * 2026-07-28 "Token Audience Binding": clients MUST send `resource`, baton never guesses an audience, and an
 * unknown resource is refused (`invalid_target`). The scope is the grant's Policy ceiling
 * (granted-scope.ts); a token always carries at least one scope of its resource.
 */
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import type { Policy } from '../policy/policy.ts';
import type { BuiltinResource } from '../policy/builtin-resources.ts';
import type { AccountAccess } from './accounts.ts';
import { ALLOWED_RESOURCES, ALLOWED_SCOPES } from './client-registry/index.ts';
import { clientCredentialsScope, userGrantScope } from './granted-scope.ts';
import { refusal } from './refusals.ts';

type ResourceIndicators = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;

export function resourceIndicators(
  config: Config,
  deps: { policy(): Policy; grants: AccountAccess },
): ResourceIndicators {
  const alg = config.keys.algorithm;
  const { tokens } = config;
  return {
    enabled: true,
    // MCP authorization: clients MUST send `resource`; baton never guesses an audience.
    defaultResource: async (ctx, _client, oneOf) => {
      if (!oneOf && ctx.oidc.params?.grant_type === 'client_credentials') {
        // RFC 8707 §2 + MCP authorization: a token is only ever issued for a named resource
        throw refusal('resource_missing', 'no resource');
      }
      return oneOf;
    },
    useGrantedResource: async () => true,
    getResourceServerInfo: async (ctx, indicator, client) => {
      const policy = deps.policy();
      const builtin = policy.builtins.get(indicator);
      if (builtin) return builtinResourceInfo(ctx, builtin, client, { policy, grants: deps.grants, alg });
      const resource = policy.resources.get(indicator);
      if (!resource) throw refusal('resource_unknown', `unknown resource ${indicator}`);
      const allowed = client[ALLOWED_RESOURCES] as string[] | undefined;
      if (allowed && !allowed.includes(indicator))
        throw refusal('resource_not_allowed', `client ${client.clientId} is not allowed resource ${indicator}`);
      let scopes: readonly string[] = resource.scopes;
      const grantType = ctx.oidc.params?.grant_type;
      // a token always carries at least one scope of its resource, whatever the grant (granted-scope.ts)
      if (grantType === 'authorization_code' || grantType === 'refresh_token') {
        // a user's token: only what the user's roles grant now (recomputed at every refresh)
        const byRoles = deps.grants.allowedScopes(ctx, resource) ?? [];
        scopes = userGrantScope(ctx, resource.uri, grantType, byRoles);
      } else if (grantType === 'client_credentials') {
        // a client acting for itself gets only the scopes configured for it
        const configured = (client[ALLOWED_SCOPES] as string[] | undefined) ?? [];
        scopes = clientCredentialsScope(ctx, resource, client, policy.clientCeiling(resource, configured));
      }
      return {
        scope: scopes.join(' '),
        audience: resource.uri,
        accessTokenTTL: resource.access_token_ttl ?? tokens.access_token_ttl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      };
    },
  };
}

/**
 * baton's own resources (policy/builtin-resources.ts), for a client the resource's own rule admits, with
 * the scopes asked of its ceiling (RFC 6749 §3.3, granted-scope.ts): by client_credentials (RFC 6749 §4.4)
 * for a client whose ceiling is not empty; by a person's grant (the authorization request, its code, a
 * refresh) only through a client the resource admits for people (the admin console), with what the
 * person's roles grant now. Anything else → `invalid_target` (RFC 8707 §2: the client may not have a token
 * for this resource). A client's `resources` list names configured resources only and does not bear on
 * them. The tokens are ordinary RFC 9068 JWTs, short-lived.
 */
function builtinResourceInfo(
  ctx: KoaContextWithOIDC,
  builtin: BuiltinResource,
  client: { clientId: string },
  deps: { policy: Policy; grants: AccountAccess; alg: Config['keys']['algorithm'] },
) {
  const { policy, alg } = deps;
  const grantType = ctx.oidc.params?.grant_type;
  let scopes: readonly string[];
  if (grantType === 'client_credentials') {
    const ceiling = policy.builtinCeiling(builtin, client.clientId);
    if (ceiling.length === 0)
      throw refusal('resource_not_allowed', `client ${client.clientId} may not use ${builtin.uri} (${builtin.name})`);
    scopes = clientCredentialsScope(ctx, builtin, client, ceiling);
  } else if (!builtin.userClient?.(client.clientId)) {
    throw refusal('resource_not_allowed', `${builtin.uri} is baton's own API: not for client ${client.clientId}`);
  } else if (grantType === 'authorization_code' || grantType === 'refresh_token') {
    scopes = userGrantScope(ctx, builtin.uri, grantType, deps.grants.allowedScopes(ctx, builtin) ?? []);
  } else if (grantType === undefined) {
    // the authorization request: the grant records what the roles allow (loadExistingGrant)
    scopes = builtin.scopes;
  } else {
    throw refusal(
      'resource_not_allowed',
      `${builtin.uri} is baton's own API: not by ${typeof grantType === 'string' ? grantType : 'this grant'}`,
    );
  }
  return {
    scope: scopes.join(' '),
    audience: builtin.uri,
    accessTokenTTL: builtin.access_token_ttl,
    accessTokenFormat: 'jwt' as const,
    jwt: { sign: { alg } },
  };
}
