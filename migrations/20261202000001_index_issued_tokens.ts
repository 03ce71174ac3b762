/**
 * An index for baton's `token.issued` record of a jti: the audit ingestion (POST /audit/events) takes the
 * person and the chain of every reported call from it (audit/store.ts issuedTokens). On `(jti)` alone that
 * lookup read every row of the jti, and each reported call of a token is one (a long MCP session: thousands),
 * so each batch got slower as the session went on. A partial index holds one row per token.
 * Built CONCURRENTLY (no lock on the audit trail's writes while a large table is indexed), hence outside a
 * transaction (knex `config.transaction: false`); IF NOT EXISTS makes a rerun after an interrupted build safe
 * to start again, once the invalid index it leaves is dropped (PostgreSQL: CREATE INDEX CONCURRENTLY).
 */
import type { Knex } from 'knex';

export const config = { transaction: false };

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    "create index concurrently if not exists audit_events_issued_jti on audit_events (jti) where type = 'token.issued'",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index concurrently if exists audit_events_issued_jti');
}
