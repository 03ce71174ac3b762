/**
 * `upstream_secrets`: the credentials baton's gateway adds to the requests it forwards to shared-key MCP
 * servers (server/src/secrets/). One row per version of a named secret: the value sealed under the KEK as a
 * compact JWE (dir + A256GCM, keys/kek.ts, as the signing keys), the KEK id it is sealed under (`baton keys
 * rewrap` re-encrypts them), when it was stored, and, for the previous version after a rotation with an
 * overlap, until when it is still handed out (`valid_until`; null for the current version). At most two
 * versions of a name are kept: the current one and the previous one in its overlap.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('upstream_secrets', (t) => {
    t.text('name').notNullable();
    t.integer('version').notNullable();
    t.text('jwe').notNullable();
    t.text('kek_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('valid_until', { useTz: true });
    t.primary(['name', 'version']);
  });
  await knex.raw(
    "alter table upstream_secrets add constraint upstream_secrets_name check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')",
  );
  await knex.raw('alter table upstream_secrets add constraint upstream_secrets_version check (version >= 1)');
  // one current version a name (the previous one has its valid_until)
  await knex.raw(
    'create unique index upstream_secrets_one_current on upstream_secrets (name) where valid_until is null',
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('upstream_secrets');
}
