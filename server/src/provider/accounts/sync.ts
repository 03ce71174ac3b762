/**
 * oidc-provider's `findAccount`, and at a refresh the sync of the account with its IdP: the local
 * directory is re-read, an OIDC IdP with sync_on_refresh is asked again for the user's groups.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Account } from '../../accounts/store.ts';
import type { OidcIdpConfig } from '../../config/schema.ts';
import { UpstreamError } from '../../idp/oidc.ts';
import type { AccountAccessDeps } from './deps.ts';

/**
 * findAccount: the account must exist and be enabled (else no token and no refresh: invalid_grant).
 * At a refresh, accounts of an OIDC IdP with sync_on_refresh refresh at the IdP and re-read their
 * groups; an IdP that refuses (user removed, session revoked) ends the baton grant too.
 */
export async function findAccount(deps: AccountAccessDeps, ctx: KoaContextWithOIDC, sub: string) {
  let account = await deps.accounts.find(sub);
  if (!account || account.disabled) return undefined;
  const params = ctx.oidc?.params;
  if (params?.grant_type === 'refresh_token') {
    const synced = await syncWithIdp(deps, account);
    if (!synced) return undefined;
    account = synced;
  }
  const found = account;
  return {
    accountId: found.id,
    baton: found,
    claims: () => ({ sub: found.id, ...found.profile }),
  };
}

/** The account with its groups as its IdP says now; undefined when the IdP no longer knows the user. */
export async function syncWithIdp(deps: AccountAccessDeps, account: Account): Promise<Account | undefined> {
  const idp = account.idpId ? deps.idps.get(account.idpId) : undefined;
  if (!idp) return account;
  if (idp.type === 'local') {
    // the directory is the configuration itself: re-read the user's groups from it
    const user = deps.idps.localUser(idp, account.idpSubject);
    if (!user || user.disabled) return undefined;
    const roles = deps.policy().rolesFor(idp.id, user.groups);
    await deps.accounts.updateGroups(account.id, { groups: user.groups, roles });
    return { ...account, groups: user.groups, roles };
  }
  if (!idp.sync_on_refresh || !account.hasUpstreamToken) return account;
  return refreshAtIdp(deps, idp, account);
}

/** Refreshes the user's upstream token (under the account lock) and takes the groups it carries. */
async function refreshAtIdp(
  deps: AccountAccessDeps,
  idp: OidcIdpConfig,
  account: Account,
): Promise<Account | undefined> {
  const upstream = deps.idps.upstream(idp.id)!;
  return deps.accounts.withAccountLock(account.id, async (trx) => {
    const token = await deps.accounts.upstreamRefreshToken(account.id, trx);
    if (!token) return account;
    try {
      // the sign-in's `sub` (accounts without one recorded were keyed by it: subject_claim sub)
      const person = { subject: account.idpSubject, sub: account.upstreamSub ?? account.idpSubject };
      const fresh = await upstream.refresh(token, person);
      const roles = deps.policy().rolesFor(idp.id, fresh.groups);
      await deps.accounts.updateGroups(
        account.id,
        { groups: fresh.groups, roles, ...(fresh.refreshToken ? { upstreamRefreshToken: fresh.refreshToken } : {}) },
        trx,
      );
      return { ...account, groups: fresh.groups, roles };
    } catch (err) {
      if (err instanceof UpstreamError && err.reason === 'refresh_refused') {
        deps.log.warn({ account: account.id, idp: idp.id, reason: err.message }, 'account.upstream_refresh_refused');
        return undefined;
      }
      // fail closed but say why: the IdP could not confirm the user's groups
      deps.log.error(
        { account: account.id, idp: idp.id, reason: (err as Error).message },
        'account.upstream_refresh_failed',
      );
      throw Object.assign(new Error('identity provider unavailable'), {
        statusCode: 503,
        status: 503,
        expose: false,
      });
    }
  });
}
