/**
 * How a user's roles become a grant (oidc-provider's `loadExistingGrant`, the consent route) and the
 * scopes and claims of the user's tokens (`getResourceServerInfo`, `extraTokenClaims`, `findAccount`).
 * Roles are recomputed from the account's groups under the current policy every time, so a role removed
 * from policy, or a group removed at the IdP (re-read at refresh), is gone from the next token.
 *
 * The functions live in provider/accounts/: grant.ts (roles → grant), sync.ts (findAccount and the
 * refresh-time sync at the IdP), claims.ts (scopes and claims of the tokens).
 */
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Account } from '../accounts/store.ts';
import { allowedScopes, userClaims } from './accounts/claims.ts';
import { rolesOf, type AccountAccessDeps } from './accounts/deps.ts';
import { buildGrant, decide, loadExistingGrant } from './accounts/grant.ts';
import { findAccount } from './accounts/sync.ts';

export type { AccountAccessDeps, Decision } from './accounts/deps.ts';

export function accountAccess(deps: AccountAccessDeps) {
  const loadGrant: NonNullable<Configuration['loadExistingGrant']> = (ctx) => loadExistingGrant(deps, ctx);
  const find: NonNullable<Configuration['findAccount']> = (ctx, sub) => findAccount(deps, ctx, sub);
  return {
    decide: (account: Account, requested: string[], resources: string[], clientId?: string) =>
      decide(deps, account, requested, resources, clientId),
    buildGrant,
    loadExistingGrant: loadGrant,
    findAccount: find,
    allowedScopes: (ctx: KoaContextWithOIDC, resource: { scopes: readonly string[] }) =>
      allowedScopes(deps, ctx, resource),
    userClaims: (ctx: KoaContextWithOIDC, accountId: string, scope: string | undefined) =>
      userClaims(deps, ctx, accountId, scope),
    rolesOf: (account: Account) => rolesOf(deps, account),
  };
}

export type AccountAccess = ReturnType<typeof accountAccess>;
