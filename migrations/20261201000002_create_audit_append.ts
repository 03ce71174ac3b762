/**
 * `audit_append`: one batch of the audit writer (server/src/audit/writer.ts) in ONE round trip. It takes the
 * chain's advisory lock, checks that the head is the one the writer chained its batch after (another
 * process may have appended since), and inserts the batch's audit events and token lineage rows; the
 * statement's own transaction commits both together and releases the lock. When the head moved, it inserts
 * nothing and returns the head, and the writer chains the batch again after it.
 */
import type { Knex } from 'knex';

/** pg_advisory_xact_lock id of the audit chain (server/src/audit/writer.ts AUDIT_LOCK) */
const AUDIT_LOCK = 77_420_013;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function audit_append(
      expected_seq bigint, expected_hash text,
      a_seq bigint[], a_at timestamptz[], a_type text[], a_outcome text[], a_account text[], a_client text[],
      a_resource text[], a_jti text[], a_parent text[], a_grant text[], a_event text[], a_prev text[], a_hash text[],
      l_jti text[], l_parent text[], l_grant text[], l_account text[], l_actor text[], l_audience text[],
      l_depth int[], l_expires timestamptz[],
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
        select s, t, ty, o, ac, cl, r, j, p, g, ev::jsonb, ph, h
        from unnest(a_seq, a_at, a_type, a_outcome, a_account, a_client, a_resource, a_jti, a_parent, a_grant,
                    a_event, a_prev, a_hash) as x(s, t, ty, o, ac, cl, r, j, p, g, ev, ph, h);
      insert into token_lineage (jti, parent_jti, grant_id, account_id, actor, audience, depth, expires_at)
        select * from unnest(l_jti, l_parent, l_grant, l_account, l_actor, l_audience, l_depth, l_expires);
      appended := true;
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function audit_append');
}
