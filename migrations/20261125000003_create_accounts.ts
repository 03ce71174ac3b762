/**
 * Accounts: one stable baton subject per (IdP issuer, IdP subject), with the last profile, groups and
 * roles seen. A disabled account gets no token and no refresh (server/src/provider/account.ts).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('idp_issuer').notNullable();
    t.text('idp_subject').notNullable();
    t.jsonb('profile').notNullable().defaultTo('{}');
    t.jsonb('groups').notNullable().defaultTo('[]');
    t.jsonb('roles').notNullable().defaultTo('[]');
    t.timestamp('disabled_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['idp_issuer', 'idp_subject']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('accounts');
}
