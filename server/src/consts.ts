/**
 * The protocol identifiers baton speaks, in one place (as oidc-provider keeps its own in lib/consts): grant
 * types, token types and grant profiles. A leaf module: anything may import it, it imports nothing.
 */

/** RFC 8693 §2.1 */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 7523 §2.1 (the grant an ID-JAG is redeemed with) */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** draft-ietf-oauth-identity-assertion-authz-grant-04 §7.2: the profile advertised in discovery */
export const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';

/** RFC 8693 §3 token type identifiers */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** draft-ietf-oauth-identity-assertion-authz-grant-04 §3 */
export const ID_JAG_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';

/** the member of a registered client's stored record that holds its secret, sealed by the KEK (adapters/STORAGE.md) */
export const SEALED_SECRET = 'client_secret_jwe';

/**
 * baton's own resources (RFC 8707 resource indicators under the issuer), beside the configured ones
 * (policy/builtin-resources.ts): their paths under the issuer and their scopes.
 */
export const AUDIT_RESOURCE_PATH = '/audit';
/** the scope of the audit ingestion endpoint (`POST ${issuer}/audit/events`) */
export const AUDIT_WRITE_SCOPE = 'audit.write';
/** the admin API (`${issuer}/admin/api/…`, docs/admin-api.md) and its scopes */
export const ADMIN_RESOURCE_PATH = '/admin/api';
export const ADMIN_READ_SCOPE = 'admin.read';
export const ADMIN_WRITE_SCOPE = 'admin.write';
/**
 * the web admin console (`${issuer}/admin`, server/src/http/admin-console/): a client of baton itself, built in (a
 * configured client may not take its id), that signs admins in by authorization code + PKCE and holds a token
 * for the admin API
 */
export const ADMIN_CONSOLE_PATH = '/admin';
export const ADMIN_CONSOLE_CLIENT = 'baton-admin-console';
export const ADMIN_CONSOLE_CALLBACK = '/admin/callback';
/**
 * the connect pages of brokered upstreams (`${issuer}/connect/…`, issue #20, server/src/http/connect/): a
 * client of baton itself, built in, that signs a person in (authorization code + PKCE) to learn who opened a
 * connect link; its token (scope `connect`, every person has it) never leaves the process
 */
export const CONNECT_PATH = '/connect';
export const CONNECT_RESOURCE_PATH = '/connect';
export const CONNECT_SCOPE = 'connect';
export const CONNECT_CLIENT = 'baton-connect';
/** baton's own sign-in comes back here; the upstream's authorization server comes back to CONNECT_CALLBACK */
export const CONNECT_SIGNED_IN = '/connect/signed-in';
export const CONNECT_CALLBACK = '/connect/callback';
/** the paths under the issuer that built-in resources take: a configured resource may not be one of them */
export const BUILTIN_RESOURCE_PATHS: readonly string[] = [
  AUDIT_RESOURCE_PATH,
  ADMIN_RESOURCE_PATH,
  CONNECT_RESOURCE_PATH,
];
