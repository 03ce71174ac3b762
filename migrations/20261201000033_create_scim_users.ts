/**
 * SCIM Users (RFC 7643 §4.1) provisioned by an IdP (server/src/scim/): one per account, the IdP's last
 * written representation (`resource`: the User as the IdP wrote it, never a password), its `userName`
 * unique per IdP regardless of case (RFC 7643 §4.1.1: caseExact false, uniqueness server). A DELETE marks
 * the row (`deleted_at`): the User is gone for SCIM (RFC 7644 §3.6), the account stays, disabled.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('scim_users', (t) => {
    t.text('account_id').primary().references('accounts.id').onDelete('CASCADE');
    t.text('idp_id').notNullable();
    t.text('user_name').notNullable();
    t.text('external_id');
    t.jsonb('resource').notNullable();
    t.timestamp('deleted_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    'create unique index scim_users_user_name on scim_users (idp_id, lower(user_name)) where deleted_at is null',
  );
  await knex.raw('create index scim_users_external_id on scim_users (idp_id, external_id) where deleted_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('scim_users');
}
