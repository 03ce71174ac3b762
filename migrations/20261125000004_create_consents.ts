/**
 * Consents remembered per (account, client, resource), and on accounts: the IdP id and the upstream
 * refresh token (a JWE under the KEK) used to re-read groups at every refresh.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('idp_id');
    t.text('upstream_jwe');
    t.timestamp('last_login_at', { useTz: true });
  });
  await knex.schema.createTable('consents', (t) => {
    t.text('account_id').notNullable().references('accounts.id').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.text('resource').notNullable();
    t.jsonb('scopes').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'client_id', 'resource']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consents');
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('idp_id');
    t.dropColumn('upstream_jwe');
    t.dropColumn('last_login_at');
  });
}
