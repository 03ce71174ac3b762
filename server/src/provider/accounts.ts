/**
 * How a user's roles become a grant (oidc-provider's `loadExistingGrant`, the consent route) and the
 * scopes and claims of the user's tokens (`getResourceServerInfo`, `extraTokenClaims`, `findAccount`).
 * Roles are recomputed from the account's groups under the current policy every time, so a role removed
 * from policy, or a group removed at the IdP (re-read at refresh), is gone from the next token.
 */
import type Provider from 'oidc-provider';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Account, AccountStore } from '../accounts/store.ts';
import type { IdpRegistry } from '../idp/registry.ts';
import type { Policy } from '../policy/policy.ts';
import type { Logger } from 'pino';
import { UpstreamError } from '../idp/oidc.ts';
import { splitScope, stringList } from '../params.ts';

export interface Decision {
  resource: string;
  granted: string[];
  denied: string[];
}

export interface AccountAccessDeps {
  accounts: AccountStore;
  policy(): Policy;
  idps: IdpRegistry;
  log: Logger;
  /** static first_party, clients.first_party, or a pre-approved CIMD host */
  isFirstParty(client: { clientId: string; [key: string]: unknown }): boolean;
}

const OIDC_SCOPES = new Set(['openid', 'offline_access']);

/** The account a token request is about (set by findAccount), with baton's record attached. */
type BatonAccount = { accountId: string; baton?: Account };
const batonAccountOf = (ctx: KoaContextWithOIDC): Account | undefined =>
  (ctx.oidc.account as BatonAccount | undefined)?.baton;

export function accountAccess(deps: AccountAccessDeps) {
  const rolesOf = (account: Account) => deps.policy().rolesFor(account.idpId ?? '', account.groups);

  function decide(
    account: Account,
    requested: string[],
    resources: string[],
  ): { roles: string[]; decisions: Decision[] } {
    const roles = rolesOf(account);
    const policy = deps.policy();
    return {
      roles,
      decisions: resources.map((resource) => ({ resource, ...policy.decide(resource, requested, roles) })),
    };
  }

  async function buildGrant(
    provider: Provider,
    accountId: string,
    clientId: string,
    requested: string[],
    decisions: Decision[],
  ) {
    const grant = new provider.Grant({ accountId, clientId });
    const oidc = requested.filter((s) => OIDC_SCOPES.has(s));
    if (oidc.length) grant.addOIDCScope(oidc.join(' '));
    for (const d of decisions) {
      if (d.granted.length) grant.addResourceScope(d.resource, d.granted.join(' '));
      // recorded as "encountered", so the consent prompt does not ask for what the roles forbid
      if (d.denied.length) grant.rejectResourceScope(d.resource, d.denied.join(' '));
    }
    return grant.save();
  }

  /**
   * oidc-provider calls this at every authorization request with a session. A grant is returned (no
   * consent prompt) for first-party clients, and for third-party clients whose remembered consent covers
   * what the roles allow now; otherwise undefined → the consent prompt (where "nothing grantable" is
   * shown as its own page).
   */
  const loadExistingGrant: NonNullable<Configuration['loadExistingGrant']> = async (ctx) => {
    const { oidc } = ctx;
    const provider = oidc.provider;
    const consented = oidc.result?.consent as { grantId?: string } | undefined;
    if (consented?.grantId) return provider.Grant.find(consented.grantId);
    const accountId = oidc.session?.accountId;
    if (!accountId || !oidc.client) return undefined;
    const account = await deps.accounts.find(accountId);
    if (!account || account.disabled)
      throw new errors.AccessDenied('the account is disabled', 'account disabled or unknown');
    const requested = splitScope(oidc.params?.scope);
    // the resource parameter (checked against configuration by getResourceServerInfo before tokens)
    const resources = stringList(oidc.params?.resource).filter((r) => deps.policy().resources.has(r));
    const { decisions } = decide(account, requested, resources);
    if (resources.length > 0 && decisions.every((d) => d.granted.length === 0)) return undefined;
    if (!deps.isFirstParty(oidc.client)) {
      for (const d of decisions) {
        const remembered = new Set(await deps.accounts.consentedScopes(accountId, oidc.client.clientId, d.resource));
        if (!d.granted.every((s) => remembered.has(s))) return undefined;
      }
    }
    const grantId = await buildGrant(provider, accountId, oidc.client.clientId, requested, decisions);
    return provider.Grant.find(grantId);
  };

  /**
   * findAccount: the account must exist and be enabled (else no token and no refresh: invalid_grant).
   * At a refresh, accounts of an OIDC IdP with sync_on_refresh refresh at the IdP and re-read their
   * groups; an IdP that refuses (user removed, session revoked) ends the baton grant too.
   */
  const findAccount: NonNullable<Configuration['findAccount']> = async (ctx, sub) => {
    let account = await deps.accounts.find(sub);
    if (!account || account.disabled) return undefined;
    const params = ctx.oidc?.params;
    if (params?.grant_type === 'refresh_token') {
      const synced = await syncWithIdp(account);
      if (!synced) return undefined;
      account = synced;
    }
    const found = account;
    return {
      accountId: found.id,
      baton: found,
      claims: () => ({ sub: found.id, ...found.profile }),
    };
  };

  async function syncWithIdp(account: Account): Promise<Account | undefined> {
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
    const upstream = deps.idps.upstream(idp.id)!;
    return deps.accounts.withAccountLock(account.id, async (trx) => {
      const token = await deps.accounts.upstreamRefreshToken(account.id, trx);
      if (!token) return account;
      try {
        const fresh = await upstream.refresh(token, account.idpSubject);
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

  /** The scopes of a resource this user may have right now (token endpoint, user grants). */
  function allowedScopes(ctx: KoaContextWithOIDC, resource: { scopes: readonly string[] }): string[] | undefined {
    const account = batonAccountOf(ctx);
    if (!account) return undefined;
    return deps.policy().userCeiling(resource, rolesOf(account));
  }

  /** Claims baton adds to a user's access token: the IdP anchor, the roles behind the scopes, auth_time. */
  async function userClaims(ctx: KoaContextWithOIDC, accountId: string, scope: string | undefined) {
    const account = batonAccountOf(ctx)?.id === accountId ? batonAccountOf(ctx) : await deps.accounts.find(accountId);
    if (!account) return {};
    const entities = ctx.oidc.entities as {
      AuthorizationCode?: { authTime?: number };
      RefreshToken?: { authTime?: number };
    };
    const authTime = entities.AuthorizationCode?.authTime ?? entities.RefreshToken?.authTime;
    return {
      ...(authTime ? { auth_time: authTime } : {}),
      idp: { iss: account.idpIssuer, sub: account.idpSubject },
      roles: deps.policy().rolesGranting(rolesOf(account), splitScope(scope)),
    };
  }

  return { decide, buildGrant, loadExistingGrant, findAccount, allowedScopes, userClaims, rolesOf };
}

export type AccountAccess = ReturnType<typeof accountAccess>;
