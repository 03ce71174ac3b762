/** oidc-provider model storage (adapters/src/postgres-adapter.ts). Layout: adapters/STORAGE.md. */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.text('model').notNullable();
    t.text('id').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('user_code');
    t.text('uid');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['model', 'id']);
  });
  await knex.raw('create index oidc_payloads_grant on oidc_payloads (model, grant_id) where grant_id is not null');
  await knex.raw('create index oidc_payloads_uid on oidc_payloads (model, uid) where uid is not null');
  await knex.raw(
    'create index oidc_payloads_user_code on oidc_payloads (model, user_code) where user_code is not null',
  );
  await knex.raw('create index oidc_payloads_expires on oidc_payloads (expires_at) where expires_at is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('oidc_payloads');
}
