/**
 * createProvider: oidc-provider configured (configuration.ts), patched (the seam: internals.ts and
 * patches/), with baton's middleware in front of its routes and baton's grants registered (grants/).
 * The event owner (events.ts) attaches the listeners once the provider is built.
 */
import Provider from 'oidc-provider';
import { createLocalJWKSet } from 'jose';
import type { Config } from '../config/schema.ts';
import { buildProviderConfig, type ProviderDeps } from './configuration.ts';
import { defaultScopeForResource } from './default-scope.ts';
import { registerGrants } from './grants/index.ts';
import { applyPatches } from './internals.ts';
import { jwtTokenState } from './jwt-token-state.ts';
import { awaitAudit } from './audit-trail.ts';
import { registrationBody } from './registration-body.ts';
import { sessionLogins } from './session-logins.ts';
import { tokenState, type TokenState } from './token-state.ts';

export type { ProviderDeps } from './configuration.ts';

/** baton's own keys as a local key set, and the state of its JWT access tokens under them (token-state.ts). */
export function ownTokens(
  config: Config,
  deps: Pick<ProviderDeps, 'jwks' | 'adapterFor' | 'isBlocked' | 'accounts' | 'db'>,
): { ownKeys: ReturnType<typeof createLocalJWKSet>; state: TokenState } {
  const ownKeys = createLocalJWKSet({
    keys: deps.jwks.map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub }) => pub),
  });
  const state = tokenState({
    issuer: config.issuer,
    ownKeys,
    revoked: deps.adapterFor('RevokedToken'),
    isBlocked: (id) => deps.isBlocked(id),
    accounts: deps.accounts,
    db: deps.db,
  });
  return { ownKeys, state };
}

/**
 * `own`: the key set and token state to use (ownTokens), when the caller shares them with baton's own
 * resource endpoints (the audit ingestion, http/audit-ingest.ts).
 */
export function createProvider(config: Config, deps: ProviderDeps, own = ownTokens(config, deps)): Provider {
  const provider = new Provider(config.issuer, buildProviderConfig(config, deps));
  // first, so it wraps every route: an answer waits for the audit records its request wrote
  provider.use(awaitAudit());
  provider.use(defaultScopeForResource(() => deps.policy()));
  // which sign-in each session came from, once the session is saved (back-channel logout, revoke user)
  provider.use(sessionLogins(deps.db));
  // the seam's error corrections are listeners: the event owner registers them first (events.ts)
  applyPatches(provider, {
    resourceScopes: () => [...deps.policy().resources.values()].flatMap((r) => r.scopes),
    replayStore: deps.adapterFor('ReplayDetection'),
    acceptClientIdUrl: deps.clients.isDevelopmentLoopbackClientId,
  });
  provider.use(registrationBody(config.clients.registration.dcr.max_metadata_bytes, deps.clients.fetchedUriProblem));
  const { ownKeys, state } = own;
  provider.use(jwtTokenState(state, () => deps.policy(), deps.audit));
  registerGrants(provider, {
    config,
    policy: () => deps.policy(),
    accounts: deps.accounts,
    idps: deps.idps,
    ownKeys,
    state,
    signingKey: deps.jwks[0]!,
    audit: deps.audit,
    statusLists: deps.statusLists,
    replay: deps.adapterFor('IdJagReplay'),
  });
  provider.proxy = true; // scheme and host come from canonicalOrigin (http/middleware.ts), never from the client
  return provider;
}
