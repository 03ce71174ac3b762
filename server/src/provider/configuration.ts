/**
 * buildProviderConfig (pure): node-oidc-provider 9 configured as an OAuth 2.1 / MCP authorization server.
 * Clauses implemented here:
 *  - RFC 8414 + OIDC Discovery: both well-known documents (served by oidc-provider; `scopes_supported` from the
 *    current policy);
 *  - OAuth 2.1 §4.1.1 / RFC 7636: PKCE required for every authorization-code client, S256 only;
 *  - RFC 9207: `iss` in authorization responses (oidc-provider always adds it);
 *  - OAuth 2.1 §4.3.1 / RFC 9700 §4.14: refresh tokens rotate on every use;
 *  - RFC 8707 + RFC 9068: one resource per access token, issued as an `at+jwt` whose `aud` is that resource
 *    (resource-indicators.ts).
 */
import { errors, type Configuration } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { Adapter } from '../../../adapters/src/models.ts';
import { logoutPage, renderErrorPage, signedOutPage } from '../pages.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccountAccess } from './accounts.ts';
import type { Knex } from 'knex';
import type { AuditSink } from './audit-trail.ts';
import type { AccountStore } from '../accounts/store.ts';
import type { IdpRegistry } from '../idp/registry.ts';
import { mintedClaims } from './grants/mint.ts';
import { stashEntry, type StatusClaim, type StatusIssuer } from '../status-list/issue.ts';
import { ID_JAG_PROFILE, ID_JAG_TOKEN_TYPE } from '../consts.ts';
import { interactionPrompts } from './internals.ts';
import { resourceIndicators } from './resource-indicators.ts';
import {
  ALLOWED_RESOURCES,
  ALLOWED_SCOPES,
  CLIENT_KIND,
  FIRST_PARTY,
  type ClientRegistry,
} from './client-registry/index.ts';

export interface ProviderDeps {
  clients: ClientRegistry;
  adapterFor(model: string): Adapter;
  jwks: JWK[];
  cookieKeys: string[];
  policy(): Policy;
  /** blocked clients: the configuration's and the runtime ones (revocation/client-blocks.ts) */
  isBlocked(clientId: string): boolean;
  grants: AccountAccess;
  /** the issuer's path ('' at the root), under which the interaction routes live */
  base: string;
  accounts: AccountStore;
  idps: IdpRegistry;
  db: Knex;
  /** the audit trail (and the token lineage): audit/writer.ts */
  audit: AuditSink;
  /** the Token Status List slots of the JWT access tokens (status-list/issue.ts) */
  statusLists: StatusIssuer;
}

export function buildProviderConfig(config: Config, deps: ProviderDeps): Configuration {
  const alg = config.keys.algorithm;
  const { tokens } = config;

  return {
    // static clients are served by the Client adapter from the current policy (client-registry/stored-clients.ts), so a SIGHUP
    // reloads them and a blocked one is unknown at once
    adapter: (name: string) =>
      name === 'Client' ? deps.clients.clientAdapter(deps.adapterFor(name)) : deps.adapterFor(name),
    fetch: deps.clients.fetch as unknown as Configuration['fetch'],
    // ID-JAG §7.2 / MCP Enterprise-Managed Authorization §6
    discovery: {
      authorization_grant_profiles_supported: [ID_JAG_PROFILE],
      // draft-ietf-oauth-status-list-20 §9.1: the Status List Aggregation (http/status-lists.ts)
      status_list_aggregation_endpoint: `${config.issuer}/statuslists`,
      // draft-ietf-oauth-identity-chaining §3 / ID-JAG §7.1: baton issues ID-JAGs by token exchange
      ...(config.identity_chaining.length
        ? { identity_chaining_requested_token_types_supported: [ID_JAG_TOKEN_TYPE] }
        : {}),
    },
    jwks: { keys: deps.jwks },
    cookies: {
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    findAccount: deps.grants.findAccount,
    loadExistingGrant: deps.grants.loadExistingGrant,
    interactions: {
      url: (_ctx, interaction) => `${deps.base}/interaction/${interaction.uid}`,
      policy: interactionPrompts((client) => deps.clients.isFirstParty(client)),
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    },
    enabledJWA: {
      idTokenSigningAlgValues: [alg],
      userinfoSigningAlgValues: [alg],
      // private_key_jwt client assertions (RFC 7523 §2.2): asymmetric algorithms only
      clientAuthSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
    },
    assertJwtClientAuthClaimsAndHeader: async (_ctx, claims) =>
      clientAssertionLifetime(claims, tokens.client_assertion_max_lifetime_seconds),
    responseTypes: ['code'],
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'] },
    // OAuth 2.1 §4.1.1: PKCE for every client using the authorization code grant; S256 only (9.x default).
    pkce: { required: () => true },
    // OAuth 2.1 §4.3.1, RFC 9700 §4.14.2: rotate refresh tokens; reuse of a rotated one revokes the grant.
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: lifetimes(tokens),
    extraClientMetadata: {
      properties: [CLIENT_KIND, FIRST_PARTY, ALLOWED_RESOURCES, ALLOWED_SCOPES],
      validator: deps.clients.validator,
    },
    // RFC 9068 §2.2 plus baton's claims (README "Token shapes"); standard claims always win over these.
    extraTokenClaims: tokenClaims(deps),
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((u) => URL.parse(u)?.origin === origin) ?? false,
    features: features(config, deps),
    renderError: async (ctx, out, err) => {
      ctx.type = 'html';
      ctx.body = renderErrorPage(out, {
        cimd: deps.clients.cimdProblem(ctx, err),
        retrySeconds: config.clients.registration.cimd.failure_cache_seconds,
      });
    },
  };
}

type Features = NonNullable<Configuration['features']>;

function features(config: Config, deps: ProviderDeps): Features {
  return {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 7662 / RFC 7009: oidc-provider answers for the tokens it stores (refresh tokens); baton's JWT
    // access tokens are answered by jwt-token-state.ts, with the same rule
    introspection: {
      enabled: true,
      // RFC 7662 §4: a client learns nothing about a token that is not its own, confidential or not: it gets
      // `{active:false}`, as for an unknown token
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    revocation: {
      enabled: true,
      // RFC 7009 §2.1: only the client a token was issued to revokes it. Anyone else gets the 200 an unknown
      // token gets (§2.2) and nothing is revoked, so the answer tells nothing about the token either.
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    // OpenID Connect RP-Initiated Logout 1.0 §2: baton's own sign-out pages (oidc-provider's load web
    // fonts, which baton's Content-Security-Policy refuses)
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.type = 'html';
        ctx.body = logoutPage(form);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.type = 'html';
        ctx.body = signedOutPage();
      },
    },
    // MCP authorization 2026-07-28: CIMD (draft-02) is the default registration; DCR for compatibility
    clientIdMetadataDocument: deps.clients.cimdFeature as unknown as NonNullable<
      Configuration['features']
    >['clientIdMetadataDocument'],
    registration: {
      enabled: config.clients.registration.dcr.mode !== 'off',
      initialAccessToken:
        config.clients.registration.dcr.mode === 'initial_access_token'
          ? config.clients.registration.dcr.initial_access_token!
          : false,
      // RFC 7591 §3.2.1: registered clients get ids and secrets from oidc-provider's generators
    },
    registrationManagement: {
      enabled: config.clients.registration.dcr.mode !== 'off',
      rotateRegistrationAccessToken: true,
    },
    resourceIndicators: resourceIndicators(config, deps),
  };
}

/** the lifetime of each model, in seconds (docs/config.md `tokens`) */
function lifetimes(tokens: Config['tokens']): Configuration['ttl'] {
  return {
    AccessToken: tokens.access_token_ttl,
    ClientCredentials: tokens.access_token_ttl,
    AuthorizationCode: tokens.authorization_code_ttl,
    IdToken: tokens.access_token_ttl,
    RefreshToken: tokens.refresh_token_ttl,
    Session: tokens.session_ttl,
    Grant: tokens.refresh_token_ttl,
    Interaction: tokens.interaction_ttl,
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
  };
}

/**
 * The claims baton adds to an access token: those its own grants decided (grants/mint.ts, with their
 * `status`), or, for a user's token from oidc-provider's grants, the IdP anchor, the roles and auth_time
 * (accounts.ts) and the grant id; and the client's kind. A JWT access token of oidc-provider's grants gets
 * its Token Status List claim here (statusFor).
 */
function tokenClaims(deps: ProviderDeps): Configuration['extraTokenClaims'] {
  return async (ctx, token) => {
    const kind = (token as { client?: Record<string, unknown> }).client?.[CLIENT_KIND];
    const decided = mintedClaims(token);
    const t = token as { kind: string; accountId?: string; scope?: string; grantId?: string };
    const user =
      decided ??
      (t.kind === 'AccessToken' && t.accountId
        ? { ...(await deps.grants.userClaims(ctx, t.accountId, t.scope)), ...(t.grantId ? { gid: t.grantId } : {}) }
        : {});
    const status = decided ? undefined : await statusFor(ctx, token, deps.statusLists);
    return { ...user, ...(kind ? { client_kind: kind } : {}), ...(status ? { status } : {}) };
  };
}

type HookToken = {
  jti: string;
  exp?: number;
  expiration: number;
  accountId?: string;
  clientId?: string;
  grantId?: string;
  resourceServer?: { accessTokenFormat?: string };
};

/**
 * draft-ietf-oauth-status-list-20 §6.2: a JWT access token of oidc-provider's grants (authorization_code,
 * refresh_token, client_credentials) names its slot in a status list. Its entry waits on the request for
 * the token's `grant.success` record (provider/events.ts), which writes both in one batch. Opaque tokens
 * (no resource) are looked up in storage and carry no status.
 */
async function statusFor(ctx: object, token: unknown, issuer: StatusIssuer): Promise<StatusClaim | undefined> {
  const t = token as HookToken;
  if (t.resourceServer?.accessTokenFormat !== 'jwt') return undefined;
  // oidc-provider's own expiry of the token (formats/opaque.js), to the second
  const exp = t.exp ?? Math.floor(Date.now() / 1000) + t.expiration;
  const { claim, entry } = await issuer.issue({
    jti: t.jti,
    exp,
    accountId: t.accountId,
    clientId: t.clientId,
    grantId: t.grantId,
  });
  stashEntry(ctx, entry);
  return claim;
}

/** oidc-provider's default clock tolerance (seconds), which it applies to the assertion's exp and iat */
const CLOCK_SKEW = 15;

/**
 * RFC 7523 §3 item 4: a client assertion MUST carry `exp`, and the authorization server MAY reject one that
 * expires unreasonably far in the future; RFC 9700 §2.5 asks for short-lived ones. baton refuses an
 * assertion living longer than `max` seconds, counted from its `iat` and from now (so an assertion without
 * `iat` is bounded too). Called by oidc-provider after it verified the signature, `aud`, `iss` and `sub`.
 */
function clientAssertionLifetime(claims: Record<string, unknown>, max: number): void {
  const { exp, iat } = claims;
  if (typeof exp !== 'number') throw new errors.InvalidClientAuth('client_assertion has no exp');
  const now = Math.floor(Date.now() / 1000);
  if (exp - now > max + CLOCK_SKEW) {
    throw new errors.InvalidClientAuth(`client_assertion expires in ${exp - now}s, more than ${max}s`);
  }
  if (typeof iat === 'number' && exp - iat > max) {
    throw new errors.InvalidClientAuth(`client_assertion lives ${exp - iat}s (exp - iat), more than ${max}s`);
  }
}
