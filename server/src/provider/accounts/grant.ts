/**
 * How a user's roles become a grant: the policy's decision per resource, the grant saved from it, and
 * oidc-provider's `loadExistingGrant` (whether the consent prompt is skipped).
 */
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Account } from '../../accounts/store.ts';
import { splitScope, stringList } from '../../params.ts';
import { rolesOf, type AccountAccessDeps, type Decision } from './deps.ts';
import { recordFor } from '../audit-trail.ts';
import { requestIdOf } from '../audit-events.ts';

const OIDC_SCOPES = new Set(['openid', 'offline_access']);

/** The user's roles, and what the policy grants and denies of the requested scopes at each resource. */
export function decide(
  deps: Pick<AccountAccessDeps, 'policy'>,
  account: Account,
  requested: string[],
  resources: string[],
  clientId?: string,
): { roles: string[]; decisions: Decision[] } {
  const roles = rolesOf(deps, account);
  const policy = deps.policy();
  return {
    roles,
    decisions: resources.map((resource) => ({ resource, ...policy.decide(resource, requested, roles, clientId) })),
  };
}

/** Saves a grant of the OIDC scopes requested and of what the decisions granted; returns its id. */
export async function buildGrant(
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
export async function loadExistingGrant(deps: AccountAccessDeps, ctx: KoaContextWithOIDC) {
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
  // the resource parameter (checked against configuration by getResourceServerInfo before tokens); baton's
  // admin API only for the admin console (Policy.userResource)
  const clientId = oidc.client.clientId;
  const resources = stringList(oidc.params?.resource).filter((r) => deps.policy().userResource(r, clientId));
  const { decisions } = decide(deps, account, requested, resources, clientId);
  if (resources.length > 0 && decisions.every((d) => d.granted.length === 0)) return undefined;
  if (!deps.isFirstParty(oidc.client)) {
    for (const d of decisions) {
      const remembered = new Set(await deps.accounts.consentedScopes(accountId, oidc.client.clientId, d.resource));
      if (!d.granted.every((s) => remembered.has(s))) return undefined;
    }
  }
  const grantId = await buildGrant(provider, accountId, oidc.client.clientId, requested, decisions);
  // issue #13: a grant is a decision that hands something out (a code): its record guards the answer.
  // auth_time ties it to the sign-in that started it (login.success records the same time)
  if (deps.audit) {
    const granted = decisions.filter((d) => d.granted.length > 0);
    const authTime = oidc.session?.authTime();
    void recordFor(ctx, deps.audit, {
      audit: [
        {
          type: 'consent.given',
          outcome: 'success',
          account: accountId,
          client: oidc.client.clientId,
          gid: grantId,
          ...(granted.length === 1 ? { resource: granted[0]!.resource } : {}),
          details: {
            auto: deps.isFirstParty(oidc.client) ? 'first_party' : 'remembered',
            granted: granted.map((d) => ({ resource: d.resource, scopes: [...d.granted] })),
            ...(typeof authTime === 'number' ? { auth_time: authTime } : {}),
          },
          ...requestIdOf(ctx),
        },
      ],
    });
  }
  return provider.Grant.find(grantId);
}
