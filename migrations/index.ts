/**
 * The ordered list of migrations, given to knex as its migration source so the same migrations run on
 * PostgreSQL and on the embedded PGlite store, with no file-system globbing. Never edit a migration
 * that has landed: add a new file and append it here.
 */
import type { Knex } from 'knex';
import * as createOidcPayloads from './20261125000001_create_oidc_payloads.ts';
import * as createSigningKeys from './20261125000002_create_signing_keys.ts';
import * as createAccounts from './20261125000003_create_accounts.ts';
import * as createConsents from './20261125000004_create_consents.ts';
import * as createTokenLineage from './20261125000005_create_token_lineage.ts';
import * as createAuditEvents from './20261201000001_create_audit_events.ts';
import * as createAuditAppend from './20261201000002_create_audit_append.ts';
import * as createAuditAppendRows from './20261201000009_create_audit_append_rows.ts';
import * as createStatusLists from './20261201000020_create_status_lists.ts';
import * as exchangeAfterRevocation from './20261201000030_exchange_after_revocation.ts';
import * as indexAccountEmails from './20261201000031_index_account_emails.ts';
import * as createSessionLogins from './20261201000032_create_session_logins.ts';
import * as createScimUsers from './20261201000033_create_scim_users.ts';
import * as accountUpstreamSub from './20261201000040_account_upstream_sub.ts';
import * as createPolicyGeneration from './20261201000045_create_policy_generation.ts';
import * as createClientBlocks from './20261201000050_create_client_blocks.ts';
import * as createUpstreamSecrets from './20261201000060_create_upstream_secrets.ts';
import * as indexIssuedTokens from './20261202000001_index_issued_tokens.ts';
import * as createUpstreamGrants from './20261202000002_create_upstream_grants.ts';

const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261125000001_create_oidc_payloads': createOidcPayloads,
  '20261125000002_create_signing_keys': createSigningKeys,
  '20261125000003_create_accounts': createAccounts,
  '20261125000004_create_consents': createConsents,
  '20261125000005_create_token_lineage': createTokenLineage,
  '20261201000001_create_audit_events': createAuditEvents,
  '20261201000002_create_audit_append': createAuditAppend,
  '20261201000009_create_audit_append_rows': createAuditAppendRows,
  '20261201000020_create_status_lists': createStatusLists,
  '20261201000030_exchange_after_revocation': exchangeAfterRevocation,
  '20261201000031_index_account_emails': indexAccountEmails,
  '20261201000032_create_session_logins': createSessionLogins,
  '20261201000033_create_scim_users': createScimUsers,
  '20261201000040_account_upstream_sub': accountUpstreamSub,
  '20261201000045_create_policy_generation': createPolicyGeneration,
  '20261201000050_create_client_blocks': createClientBlocks,
  '20261201000060_create_upstream_secrets': createUpstreamSecrets,
  '20261202000001_index_issued_tokens': indexIssuedTokens,
  '20261202000002_create_upstream_grants': createUpstreamGrants,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve(Object.keys(MIGRATIONS)),
  getMigrationName: (name) => name,
  getMigration: (name) => Promise.resolve(MIGRATIONS[name]!),
};

export const migrationConfig: Knex.MigratorConfig = {
  migrationSource,
  tableName: 'baton_migrations',
};

/** True when every known migration has run (readiness: `/readyz`). */
export async function migrationsCurrent(db: Knex): Promise<boolean> {
  const [, pending] = (await db.migrate.list(migrationConfig)) as [unknown[], unknown[]];
  return pending.length === 0;
}
