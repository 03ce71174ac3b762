/**
 * baton's own resources: APIs baton itself serves under its issuer, for which it issues ordinary RFC 9068
 * JWT access tokens (RFC 8707 resource indicators, like any configured resource), by client_credentials
 * only (RFC 6749 §4.4). They are kept apart from the configured `resources` (Policy.resources): no user
 * grant, exchange, consent page or discovery list ever names them, a role that happens to list one of their
 * scopes grants nothing here, and each decides by its own rule which clients may get which of its scopes.
 *
 *   ${issuer}/audit   audit.write   the clients that are a configured resource's server (`resources[].client_id`):
 *                                   MCP servers and downstream services report their calls (POST /audit/events)
 *
 *   ${issuer}/admin/api   admin.read   the static clients whose configured `scopes` list the scope (a SIEM
 *                         admin.write  that pulls the trail, an automation): the admin API (docs/admin-api.md);
 *                                      and people, by the roles that list the scope, through the admin console
 *                                      only (ADMIN_CONSOLE_CLIENT, authorization code + PKCE): no other client
 *                                      may carry a person's admin scopes
 *
 *   ${issuer}/connect     connect      people, every one of them (no role needed), through the connect pages'
 *                                      client only (CONNECT_CLIENT): it says who signed in, and grants nothing
 *                                      else (issue #20: a person connecting a brokered upstream)
 *
 * Another is one more entry of BUILTINS (and of BUILTIN_RESOURCE_PATHS in consts.ts, which the
 * configuration's check reads).
 */
import {
  ADMIN_CONSOLE_CLIENT,
  ADMIN_READ_SCOPE,
  ADMIN_RESOURCE_PATH,
  ADMIN_WRITE_SCOPE,
  AUDIT_RESOURCE_PATH,
  AUDIT_WRITE_SCOPE,
  CONNECT_CLIENT,
  CONNECT_RESOURCE_PATH,
  CONNECT_SCOPE,
} from '../consts.ts';

/** what a built-in resource's rule may ask of the current policy */
export interface BuiltinPolicyView {
  /** the configured resources whose server (`client_id`) is this client */
  servedBy(clientId: string): readonly { uri: string }[];
  /** the scopes a static client is configured with (`clients.static[].scopes`; none for another client) */
  staticScopes(clientId: string): readonly string[];
}

export interface BuiltinResource {
  uri: string;
  name: string;
  scopes: readonly string[];
  /** seconds; short-lived: these tokens are for machines that renew them freely */
  access_token_ttl: number;
  /** client_credentials: the scopes of this resource `clientId` may get (its ceiling); [] refuses the client */
  clientCeiling(policy: BuiltinPolicyView, clientId: string): readonly string[];
  /**
   * a person's grant (authorization code, refresh): whether `clientId` may carry a person's scopes of this
   * resource at all (absent: no client may; the resource is client_credentials only)
   */
  userClient?(clientId: string): boolean;
  /** scopes every person has here through a userClient, whatever their roles */
  everyone?: readonly string[];
}

/** the lifetime of a built-in resource's tokens (at most; tokens.access_token_ttl when that is shorter) */
export const BUILTIN_TOKEN_TTL = 300;

const BUILTINS: readonly (Omit<BuiltinResource, 'uri'> & { path: string })[] = [
  {
    path: AUDIT_RESOURCE_PATH,
    name: "baton's audit API",
    scopes: [AUDIT_WRITE_SCOPE],
    access_token_ttl: BUILTIN_TOKEN_TTL,
    // issue #13: an MCP server (or a downstream service) writes the calls made to its own resource only
    clientCeiling: (policy, clientId) => (policy.servedBy(clientId).length > 0 ? [AUDIT_WRITE_SCOPE] : []),
  },
  {
    path: ADMIN_RESOURCE_PATH,
    name: "baton's admin API",
    scopes: [ADMIN_READ_SCOPE, ADMIN_WRITE_SCOPE],
    access_token_ttl: BUILTIN_TOKEN_TTL,
    // only a static client the operator configured with the scope: a registered client never gets one
    clientCeiling: (policy, clientId) =>
      [ADMIN_READ_SCOPE, ADMIN_WRITE_SCOPE].filter((s) => policy.staticScopes(clientId).includes(s)),
    // people: by role (roles: { baton-admin: [admin.read, admin.write] }), through the console only
    userClient: (clientId) => clientId === ADMIN_CONSOLE_CLIENT,
  },
  {
    path: CONNECT_RESOURCE_PATH,
    name: "baton's connect pages",
    scopes: [CONNECT_SCOPE],
    access_token_ttl: BUILTIN_TOKEN_TTL,
    clientCeiling: () => [],
    userClient: (clientId) => clientId === CONNECT_CLIENT,
    everyone: [CONNECT_SCOPE],
  },
];

/** The built-in resources of an issuer, by their identifier (`${issuer}${path}`). */
export function builtinResources(issuer: string, maxTtl: number): Map<string, BuiltinResource> {
  const base = issuer.replace(/\/$/, '');
  return new Map(
    BUILTINS.map(({ path, ...b }) => {
      const uri = `${base}${path}`;
      return [uri, { ...b, uri, access_token_ttl: Math.min(b.access_token_ttl, maxTtl) }];
    }),
  );
}
