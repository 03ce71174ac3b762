/**
 * Signing keys (server/src/keys/keystore.ts) and other shared server secrets (cookie keys), each stored
 * as a JWE (dir + A256GCM) under the key-encryption key from config. Every process reads the same rows.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    // published: in the JWKS, not yet signing · active: signing · retiring: in the JWKS, no longer
    // signing, until tokens it signed have expired · retired: gone from the JWKS, private key erased
    t.text('state').notNullable();
    t.text('private_jwe'); // null once retired
    t.jsonb('public_jwk').notNullable();
    t.text('kek_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('activated_at', { useTz: true });
    t.timestamp('retiring_at', { useTz: true });
    t.timestamp('retired_at', { useTz: true });
  });
  await knex.raw(
    "alter table signing_keys add constraint signing_keys_state check (state in ('published','active','retiring','retired'))",
  );
  // at most one active key: the single signing key every process uses
  await knex.raw("create unique index signing_keys_one_active on signing_keys (state) where state = 'active'");
  await knex.schema.createTable('server_secrets', (t) => {
    t.text('name').primary();
    t.text('jwe').notNullable();
    t.text('kek_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('server_secrets');
  await knex.schema.dropTable('signing_keys');
}
