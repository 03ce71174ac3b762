/**
 * Lineage of exchanged tokens (RFC 8693): every token issued by an exchange records its parent token, the
 * grant at the root of its chain, the actor and the audience, so that revoking a token or a grant can reach
 * every descendant, and audit can walk a chain.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('token_lineage', (t) => {
    t.text('jti').primary();
    t.text('parent_jti').notNullable();
    t.text('grant_id');
    t.text('account_id').notNullable();
    t.text('actor').notNullable();
    t.text('audience').notNullable();
    t.integer('depth').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['parent_jti']);
    t.index(['grant_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('token_lineage');
}
