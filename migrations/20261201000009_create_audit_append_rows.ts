/**
 * `audit_append_rows`: one batch of the audit writer (server/src/audit/writer.ts) in ONE round trip, as
 * `audit_append` (20261201000002) does it, but taking the batch as two JSON texts (the events' rows and the
 * lineage rows, each an array of objects keyed by column name) instead of 23 arrays: the pg driver then
 * sends two strings the writer built, rather than quoting every element of every array, which was most of
 * the writer's CPU per event. The function takes the chain's advisory lock, checks that the head is the one
 * the writer chained its batch after (another process may have appended since), and inserts the events and
 * the lineage rows; the statement's own transaction commits both together and releases the lock. When the
 * head moved, it inserts nothing and returns the head, and the writer chains the batch again after it.
 *
 * `audit_append` stays: a process of the previous version, during a rolling upgrade, keeps writing through
 * it, under the same lock and head check, so both keep one gap-free chain.
 */
import type { Knex } from 'knex';

/** pg_advisory_xact_lock id of the audit chain (server/src/audit/writer.ts AUDIT_LOCK) */
const AUDIT_LOCK = 77_420_013;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function audit_append_rows(
      expected_seq bigint, expected_hash text, events json, lineage json,
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
      appended := true;
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function audit_append_rows');
}
