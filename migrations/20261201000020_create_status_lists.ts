/**
 * Token Status List (draft-ietf-oauth-status-list-20): the lists baton serves, the blocks of indexes each
 * process reserved, and one entry per JWT access token (jti → list, idx), whose status is flipped on
 * revocation. And `audit_append_rows_v2`: `audit_append_rows` (20261201000009) with a third JSON text, the
 * batch's status entries, inserted in the same statement (one round trip, one transaction: a token's entry
 * is durable with its audit record and lineage row). `audit_append_rows` stays for processes of the previous
 * version during a rolling upgrade (same lock, same head check: one gap-free chain).
 *
 * Index allocation (server/src/status-list/allocate.ts): a process reserves a block of a list (a row of
 * status_list_blocks, primary key (list_id, block): no two processes ever hold the same block), chosen at
 * random among the list's free blocks, and hands out its indexes in a random order (§12.4: non-sequential
 * indexes; §13.3: no double allocation, the entries' primary key (list_id, idx) refuses one). A block
 * reserved by a process that stopped is never used again: its slots stay 0x00 (VALID), like decoys.
 */
import type { Knex } from 'knex';

/** pg_advisory_xact_lock id of the audit chain (server/src/audit/writer.ts AUDIT_LOCK) */
const AUDIT_LOCK = 77_420_013;

async function tables(knex: Knex): Promise<void> {
  await knex.schema.createTable('status_lists', (t) => {
    t.increments('id').primary();
    t.smallint('bits').notNullable().defaultTo(1);
    t.integer('size').notNullable();
    t.integer('block_size').notNullable();
    // §13.4: lists by the expiry of their tokens, so a list retires once every token in it expired (§13.1)
    t.timestamp('window_start', { useTz: true }).notNullable();
    t.timestamp('window_end', { useTz: true }).notNullable();
    t.boolean('full').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('retired_at', { useTz: true });
    t.index(['window_start']);
  });
  await knex.schema.createTable('status_list_blocks', (t) => {
    t.integer('list_id').notNullable().references('id').inTable('status_lists').onDelete('CASCADE');
    t.integer('block').notNullable();
    t.timestamp('reserved_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['list_id', 'block']);
  });
  await knex.schema.createTable('status_list_entries', (t) => {
    t.integer('list_id').notNullable().references('id').inTable('status_lists').onDelete('CASCADE');
    t.integer('idx').notNullable();
    t.text('jti').notNullable().unique();
    t.text('account_id');
    t.text('client_id');
    t.text('grant_id');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    // §7.1: 0x00 VALID, 0x01 INVALID
    t.smallint('status').notNullable().defaultTo(0);
    t.primary(['list_id', 'idx']);
    t.index(['account_id']);
    t.index(['client_id']);
    t.index(['grant_id']);
  });
  // the endpoint reads the entries that are not VALID, list by list
  await knex.raw('create index status_list_entries_set on status_list_entries (list_id) where status <> 0');
}

export async function up(knex: Knex): Promise<void> {
  await tables(knex);
  await knex.raw(`
    create function audit_append_rows_v2(
      expected_seq bigint, expected_hash text, events json, lineage json, statuses json,
      out appended boolean, out head_seq bigint, out head_hash text
    ) language plpgsql as $$
    begin
      perform pg_advisory_xact_lock(${AUDIT_LOCK});
      select e.seq, e.hash into head_seq, head_hash from audit_events e order by e.seq desc limit 1;
      if coalesce(head_seq, 0) <> expected_seq or coalesce(head_hash, expected_hash) <> expected_hash then
        appended := false;
        return;
      end if;
      insert into audit_events (seq, at, type, outcome, account_id, client_id, resource, jti, parent_jti, grant_id,
                                event, prev_hash, hash)
        select x.seq, x.at, x.type, x.outcome, x.account_id, x.client_id, x.resource, x.jti, x.parent_jti,
               x.grant_id, x.event, x.prev_hash, x.hash
        from json_to_recordset(events) as x(seq bigint, at timestamptz, type text, outcome text, account_id text,
                                            client_id text, resource text, jti text, parent_jti text, grant_id text,
                                            event jsonb, prev_hash text, hash text);
      insert into token_lineage (jti, parent_jti, grant_id, account_id, actor, audience, depth, expires_at)
        select x.jti, x.parent_jti, x.grant_id, x.account_id, x.actor, x.audience, x.depth, x.expires_at
        from json_to_recordset(lineage) as x(jti text, parent_jti text, grant_id text, account_id text, actor text,
                                             audience text, depth int, expires_at timestamptz);
      insert into status_list_entries (list_id, idx, jti, account_id, client_id, grant_id, expires_at)
        select x.list_id, x.idx, x.jti, x.account_id, x.client_id, x.grant_id, x.expires_at
        from json_to_recordset(statuses) as x(list_id int, idx int, jti text, account_id text, client_id text,
                                              grant_id text, expires_at timestamptz);
      appended := true;
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function audit_append_rows_v2');
  await knex.schema.dropTable('status_list_entries');
  await knex.schema.dropTable('status_list_blocks');
  await knex.schema.dropTable('status_lists');
}
