/**
 * `upstream_grants` (issue #20, server/src/brokering/): each person's grant at a brokered upstream's own
 * authorization server, so that agents never hold upstream tokens. One row per (baton account, gateway):
 * the refresh token and the current access token, each sealed under the KEK as a compact JWE (dir + A256GCM,
 * keys/kek.ts, like the signing keys and the upstream secrets), the KEK id they are sealed under (`baton keys
 * rewrap` re-encrypts them), when the access token expires, the scopes granted, and the person's subject at
 * the upstream (for the audit trail). The row is locked (SELECT … FOR UPDATE) while a refresh is under way,
 * so two gateway processes never spend one rotating refresh token twice (RFC 9700 §4.14.2).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('upstream_grants', (t) => {
    t.text('account_id').notNullable();
    t.text('gateway_id').notNullable();
    t.text('refresh_jwe');
    t.text('access_jwe');
    t.timestamp('access_expires_at', { useTz: true });
    t.text('scope').notNullable().defaultTo('');
    t.text('upstream_sub');
    t.text('kek_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['account_id', 'gateway_id']);
    t.index(['gateway_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('upstream_grants');
}
