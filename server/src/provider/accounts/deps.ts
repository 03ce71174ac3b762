/** What the account functions (provider/accounts/*) share: their dependencies and the user's roles. */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Account, AccountStore } from '../../accounts/store.ts';
import type { IdpRegistry } from '../../idp/registry.ts';
import type { Policy } from '../../policy/policy.ts';
import type { AuditSink } from '../audit-trail.ts';

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
  /** the audit trail: a grant made without the consent page (first party, remembered consent) is recorded */
  audit?: AuditSink | undefined;
}

/** The user's roles under the current policy, recomputed from the account's groups every time. */
export const rolesOf = (deps: Pick<AccountAccessDeps, 'policy'>, account: Account): string[] =>
  deps.policy().rolesFor(account.idpId ?? '', account.groups);

/** The account a token request is about (set by findAccount), with baton's record attached. */
type BatonAccount = { accountId: string; baton?: Account };
export const batonAccountOf = (ctx: KoaContextWithOIDC): Account | undefined =>
  (ctx.oidc.account as BatonAccount | undefined)?.baton;
