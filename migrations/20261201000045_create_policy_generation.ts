/**
 * `policy_generation`: one row, the generation of the last policy reload asked of any process
 * (`POST /admin/api/policy/reload`, `baton policy reload`). Every process polls it (every
 * keys.refresh_interval_seconds) and re-reads its own configuration file when it moved, so a reload asked of
 * one process reaches them all (server/src/policy/follow.ts). `requested_at`: when it last moved.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('policy_generation', (t) => {
    t.smallint('id').primary();
    t.bigInteger('generation').notNullable();
    t.timestamp('requested_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('id = 1', [], 'policy_generation_one_row');
  });
  await knex('policy_generation').insert({ id: 1, generation: 0 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('policy_generation');
}
