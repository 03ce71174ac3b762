/**
 * `session_logins`: which sign-in each of baton's browser sessions (oidc-provider's Session) came from, so
 * that a session can be found by account or by the upstream IdP's session, whatever store holds sessions
 * (PostgreSQL, or Redis where a session is keyed by its cookie value only). One row per session, keyed by the
 * session's `uid` (stable for the session's life; its `id`, the cookie value, is regenerated at each login),
 * written when a sign-in is handed back to the session; the upstream `sid` is the ID token's (OpenID Connect
 * Back-Channel Logout 1.0 §2.1), null for the local directory or an IdP that sends none.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('session_logins', (t) => {
    t.text('session_uid').primary();
    t.text('idp_id').notNullable();
    t.text('upstream_sid');
    t.text('account_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['idp_id', 'upstream_sid']);
    t.index(['account_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('session_logins');
}
