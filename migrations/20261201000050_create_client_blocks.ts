/**
 * `client_blocks`: the clients an administrator blocked at runtime (`baton clients block`, `POST
 * /admin/api/clients/{client}/block`), besides those the configuration blocks (`clients.blocked`). One row
 * per blocked client id (static, registered or a CIMD URL): who blocked it (the admin API caller's client
 * and account, or none for the command line), how the operation reached the store, when, and the operator's
 * note. Every process reads the table into its blocked set (revocation/client-blocks.ts); unblocking
 * deletes the row.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('client_blocks', (t) => {
    t.text('client_id').primary();
    t.timestamp('blocked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('blocked_by_client');
    t.text('blocked_by_account');
    t.text('via').notNullable();
    t.text('reason');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('client_blocks');
}
