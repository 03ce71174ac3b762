/** What baton's grants need from the server: configuration, policy, stores, keys, and per-process caches. */
import type { createLocalJWKSet, createRemoteJWKSet, JWK } from 'jose';
import type { Account, AccountStore } from '../../accounts/store.ts';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { Config } from '../../config/schema.ts';
import type { IdpRegistry } from '../../idp/registry.ts';
import type { Policy } from '../../policy/policy.ts';
import type { AuditSink } from '../audit-trail.ts';
import type { TokenState, TtlCache } from '../token-state.ts';
import type { StatusIssuer } from '../../status-list/issue.ts';

export interface GrantDeps {
  config: Config;
  policy(): Policy;
  accounts: AccountStore;
  idps: IdpRegistry;
  /** baton's public signing keys (every served key), to verify its own tokens */
  ownKeys: ReturnType<typeof createLocalJWKSet>;
  state: TokenState;
  /** the active private signing key (ID-JAGs baton issues are signed like its access tokens) */
  signingKey: JWK;
  /** the audit trail and the token lineage, written in one transaction (the answer waits for it) */
  audit: AuditSink;
  /** the Token Status List slots of the tokens the grants mint (status-list/issue.ts) */
  statusLists: StatusIssuer;
  /** single-use ID-JAG ids, shared by every process (a consumable model) */
  replay: Adapter;
  /** caches of this process, safe to lose: account state (as introspection sees it), workload key sets */
  cache: {
    accounts: TtlCache<Account | undefined>;
    workloadKeys: Map<string, ReturnType<typeof createRemoteJWKSet>>;
  };
}
