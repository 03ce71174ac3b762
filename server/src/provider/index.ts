/**
 * buildProviderConfig (pure) and createProvider: node-oidc-provider 9 configured as an OAuth 2.1 / MCP
 * authorization server. Clauses implemented here:
 *  - RFC 8414 + OIDC Discovery: both well-known documents (served by oidc-provider; `scopes_supported` from the
 *    current policy);
 *  - OAuth 2.1 §4.1.1 / RFC 7636: PKCE required for every authorization-code client, S256 only;
 *  - RFC 9207: `iss` in authorization responses (oidc-provider always adds it);
 *  - OAuth 2.1 §4.3.1 / RFC 9700 §4.14: refresh tokens rotate on every use;
 *  - RFC 8707 + RFC 9068: one resource per access token, issued as an `at+jwt` whose `aud` is that resource;
 *  - MCP authorization 2026-07-28 "Token Audience Binding": unknown resources are refused (`invalid_target`).
 */
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { Adapter } from '../../../adapters/src/models.ts';
import { logoutPage, renderErrorPage, signedOutPage } from '../pages.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccountAccess } from './accounts.ts';
import { splitScope, stringList } from '../params.ts';
import { createLocalJWKSet } from 'jose';
import { bodyParser } from '@koa/bodyparser';
import type Koa from 'koa';
import type { Knex } from 'knex';
import type { AccountStore } from '../accounts/store.ts';
import type { IdpRegistry } from '../idp/registry.ts';
import { mintedClaims } from './grants/mint.ts';
import { registerGrants } from './grants/index.ts';
import { ID_JAG_PROFILE, ID_JAG_TOKEN_TYPE } from '../consts.ts';
import { refusal } from './refusals.ts';
import { tokenState, type TokenState } from './token-state.ts';
import { lineageWriter } from './lineage.ts';
import { applyPatches, interactionPrompts, replayRequestBody, structuredTokenAsUnknown } from './internals.ts';
import { clientCredentialsScope, userGrantScope } from './granted-scope.ts';
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
  grants: AccountAccess;
  /** the issuer's path ('' at the root), under which the interaction routes live */
  base: string;
  accounts: AccountStore;
  idps: IdpRegistry;
  db: Knex;
}

export function buildProviderConfig(config: Config, deps: ProviderDeps): Configuration {
  const alg = config.keys.algorithm;
  const { tokens } = config;

  return {
    // static clients are served by the Client adapter from the current policy (client-registry.ts), so a SIGHUP
    // reloads them and a blocked one is unknown at once
    adapter: (name: string) =>
      name === 'Client' ? deps.clients.clientAdapter(deps.adapterFor(name)) : deps.adapterFor(name),
    fetch: deps.clients.fetch as unknown as Configuration['fetch'],
    // ID-JAG §7.2 / MCP Enterprise-Managed Authorization §6
    discovery: {
      authorization_grant_profiles_supported: [ID_JAG_PROFILE],
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
    ttl: {
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
    },
    extraClientMetadata: {
      properties: [CLIENT_KIND, FIRST_PARTY, ALLOWED_RESOURCES, ALLOWED_SCOPES],
      validator: deps.clients.validator,
    },
    // RFC 9068 §2.2 plus baton's claims (README "Token shapes"); standard claims always win over these.
    extraTokenClaims: async (ctx, token) => {
      const kind = (token as { client?: Record<string, unknown> }).client?.[CLIENT_KIND];
      const decided = mintedClaims(token); // baton's grants (grants/mint.ts)
      const t = token as { kind: string; accountId?: string; scope?: string; grantId?: string };
      const user =
        decided ??
        (t.kind === 'AccessToken' && t.accountId
          ? { ...(await deps.grants.userClaims(ctx, t.accountId, t.scope)), ...(t.grantId ? { gid: t.grantId } : {}) }
          : {});
      return { ...user, ...(kind ? { client_kind: kind } : {}) };
    },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((u) => URL.parse(u)?.origin === origin) ?? false,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 7662 / RFC 7009: oidc-provider answers for the tokens it stores (refresh tokens); baton's JWT
      // access tokens are answered by jwtTokenState below, with the same rule
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
      resourceIndicators: {
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
      },
    },
    renderError: async (ctx, out, err) => {
      ctx.type = 'html';
      ctx.body = renderErrorPage(out, {
        cimd: deps.clients.cimdProblem(ctx, err),
        retrySeconds: config.clients.registration.cimd.failure_cache_seconds,
      });
    },
  };
}

export function createProvider(config: Config, deps: ProviderDeps): Provider {
  const provider = new Provider(config.issuer, buildProviderConfig(config, deps));
  provider.use(defaultScopeForResource(() => deps.policy()));
  // the seam's error corrections are listeners: the event owner registers them first (events.ts)
  applyPatches(provider, {
    resourceScopes: () => [...deps.policy().resources.values()].flatMap((r) => r.scopes),
    replayStore: deps.adapterFor('ReplayDetection'),
    acceptClientIdUrl: deps.clients.isDevelopmentLoopbackClientId,
  });
  provider.use(registrationBody(config.clients.registration.dcr.max_metadata_bytes, deps.clients.fetchedUriProblem));
  const ownKeys = createLocalJWKSet({
    keys: deps.jwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub),
  });
  const state = tokenState({
    issuer: config.issuer,
    ownKeys,
    revoked: deps.adapterFor('RevokedToken'),
    isBlocked: (id) => deps.policy().blocked.has(id),
    accounts: deps.accounts,
    db: deps.db,
  });
  provider.use(jwtTokenState(state, () => deps.policy()));
  registerGrants(provider, {
    config,
    policy: () => deps.policy(),
    accounts: deps.accounts,
    idps: deps.idps,
    ownKeys,
    state,
    signingKey: deps.jwks[0]!,
    recordLineage: lineageWriter(deps.db),
    replay: deps.adapterFor('IdJagReplay'),
  });
  provider.proxy = true; // scheme and host come from canonicalOrigin (http/middleware.ts), never from the client
  return provider;
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

/**
 * MCP authorization 2026-07-28 §Scope Selection Strategy: a client may omit `scope` (when the protected
 * resource metadata lists none). An authorization request naming a known resource but none of its scopes
 * asks for all of them; the user's roles then decide what is granted (oidc-provider would otherwise
 * answer access_denied "no scope was granted").
 */
function defaultScopeForResource(policy: () => Policy) {
  return async (ctx: { path: string; method: string; query: Record<string, unknown> }, next: () => Promise<void>) => {
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const known = stringList(ctx.query.resource)
        .map((r) => policy().resources.get(r))
        .filter((r) => r !== undefined);
      const requested = splitScope(ctx.query.scope);
      if (known.length > 0 && !known.some((r) => r.scopes.some((s) => requested.includes(s)))) {
        const all = known.flatMap((r) => r.scopes);
        ctx.query = { ...ctx.query, scope: [...new Set([...requested, ...all])].join(' ') };
      }
    }
    await next();
  };
}

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
 */
function jwtTokenState(state: TokenState, policy: () => Policy) {
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
    if (payload.client_id !== client.clientId && rs?.client_id !== client.clientId) return;
    const log = (ctx.state as { log?: { info(o: object, m: string): void } }).log;
    if (introspection) {
      const reason = await state.inactiveReason(ctx.oidc.provider, payload);
      if (reason) {
        log?.info({ jti: payload.jti, reason }, 'introspection.inactive');
        return;
      }
      const claims = Object.fromEntries(
        INTROSPECTED.filter((k) => payload[k] !== undefined).map((k) => [k, payload[k]]),
      );
      ctx.body = { active: true, token_type: payload.cnf ? 'DPoP' : 'Bearer', ...claims };
    } else {
      const n = await state.revoke(payload);
      log?.info({ jti: payload.jti, revoked: n, by: client.clientId }, 'token.revoked');
    }
  };
}

/**
 * RFC 7591 registration requests (POST/PUT /reg): bounded in size (clients.registration.dcr.max_metadata_bytes,
 * larger → invalid_client_metadata) while the body is read, chunked or not, so an oversized body is refused
 * at the limit and never buffered whole; and without `scope`: baton grants what roles and resources allow,
 * and MCP clients send the protected resource's scopes there, which are not client metadata oidc-provider
 * knows. `request_uris`, which oidc-provider does not process, is still checked as a URI baton would fetch
 * (`uriProblem`): a registration never stores a loopback or private address.
 */
function registrationBody(limit: number, uriProblem: (uri: unknown) => string | undefined) {
  // koa's parser (raw-body underneath) counts bytes as they arrive and stops at `jsonLimit` with a 413
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: limit });
  const refuse = (ctx: Koa.Context, description: string) => {
    ctx.status = 400;
    ctx.body = { error: 'invalid_client_metadata', error_description: description };
  };
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    if (
      !ctx.path.startsWith('/reg') ||
      (ctx.method !== 'POST' && ctx.method !== 'PUT') ||
      !ctx.is('application/json')
    ) {
      return next();
    }
    const tooLarge = () => refuse(ctx, `client metadata larger than ${limit} bytes`);
    if (Number(ctx.get('content-length') || 0) > limit) return tooLarge();
    try {
      await parse(ctx, async () => {});
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 413) return tooLarge();
      // not JSON: oidc-provider answers invalid_request (it reads an empty body: the stream is spent)
      replayRequestBody(ctx, Buffer.alloc(0));
      return next();
    }
    const body = (ctx.request as { body?: unknown }).body;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const metadata = body as Record<string, unknown>;
      delete metadata.scope;
      if (metadata.request_uris !== undefined) {
        const uris = Array.isArray(metadata.request_uris) ? (metadata.request_uris as unknown[]) : [undefined];
        for (const uri of uris) {
          const problem = uriProblem(uri);
          if (problem) return refuse(ctx, `request_uris: ${String(uri)}: ${problem}`);
        }
      }
    }
    // oidc-provider parses the body itself: it gets what was read (or nothing, when that was not JSON)
    replayRequestBody(ctx, body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body)));
    return next();
  };
}
