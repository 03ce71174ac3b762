/**
 * An index of the accounts by (IdP issuer, lowercased profile email): a global token revocation request
 * naming the user by email (RFC 9493 §3.2.2, server/src/http/global-token-revocation.ts) finds that IdP's
 * accounts without a scan.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index accounts_idp_email on accounts (idp_issuer, lower(profile->>'email'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index if exists accounts_idp_email');
}
