/**
 * The state of baton's JWT access tokens, which oidc-provider does not track (RFC 9068 tokens are not
 * stored): verification against baton's own keys, revocation of one token and every token exchanged from
 * it (RFC 7009 + the lineage table), and the active/inactive answer of introspection (RFC 7662).
 *
 * A JWT access token is active when its signature, issuer, typ and expiry verify, its jti is not revoked,
 * the grant it descends from (`gid`) still exists, and its user's account is enabled.
 *
 * The pieces live in provider/token-state/: verify.ts, inactive.ts (the reason), revoke.ts, cache.ts.
 */
import type { JWTPayload, createLocalJWKSet } from 'jose';
import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { AccountStore } from '../accounts/store.ts';
import { isMarkedRevoked } from '../status-list/entry.ts';
import { TtlCache } from './token-state/cache.ts';
import { inactiveReason, type StateLookups } from './token-state/inactive.ts';
import { revoke } from './token-state/revoke.ts';
import { verifyOwn, type VerifiedTokens } from './token-state/verify.ts';

export { STATE_CACHE_MS, TtlCache } from './token-state/cache.ts';

export interface TokenStateDeps {
  issuer: string;
  ownKeys: ReturnType<typeof createLocalJWKSet>;
  /** revoked jtis, kept until the token's exp (a hot model: Redis when configured) */
  revoked: Adapter;
  accounts: AccountStore;
  db: Knex;
  /** a blocked client loses its tokens, and every token whose actor chain passes through it */
  isBlocked(clientId: string): boolean;
}

export type Inactive = { active: false; reason: string };

type StateCaches = { revoked: TtlCache<boolean>; grants: TtlCache<boolean>; accounts: TtlCache<boolean> };

/** The lookups of inactiveReason, from storage through this process's caches (STATE_CACHE_MS). */
function cachedLookups(deps: TokenStateDeps, caches: StateCaches, provider: Provider): StateLookups {
  return {
    isBlocked: (clientId) => deps.isBlocked(clientId),
    // a token exchanged while its parent was being revoked is INVALID in the status list only (born revoked:
    // migrations/20261201000030): for exchanged tokens, the list's entry is read too
    isRevoked: (jti, exchanged) =>
      caches.revoked.get(
        jti,
        async () =>
          (await deps.revoked.find(jti)) !== undefined || (exchanged && (await isMarkedRevoked(deps.db, jti))),
      ),
    grantExists: (gid) => caches.grants.get(gid, async () => (await provider.Grant.find(gid)) !== undefined),
    accountEnabled: (sub) => caches.accounts.get(sub, async () => (await deps.accounts.find(sub))?.disabled === false),
  };
}

export function tokenState(deps: TokenStateDeps) {
  const caches: StateCaches = { revoked: new TtlCache(), grants: new TtlCache(), accounts: new TtlCache() };
  const verified: VerifiedTokens = new Map();
  const verifyOwnToken = (token: string) => verifyOwn(deps, verified, token);
  return {
    /** Signature, issuer, typ and expiry, or undefined. */
    verify: async (token: string): Promise<JWTPayload | undefined> => {
      const result = await verifyOwnToken(token);
      return 'payload' in result ? result.payload : undefined;
    },
    verifyOwn: verifyOwnToken,
    /** Why a verified token is no longer active, or undefined when it is. */
    inactiveReason: (provider: Provider, payload: JWTPayload) =>
      inactiveReason(cachedLookups(deps, caches, provider), payload),
    revoke: (payload: JWTPayload) => revoke(deps, caches.revoked, payload),
  };
}

export type TokenState = ReturnType<typeof tokenState>;
