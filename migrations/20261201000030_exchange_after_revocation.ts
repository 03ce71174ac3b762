/**
 * A token issued while what it comes from is being revoked is born revoked (issue #14: a revocation reaches
 * every token derived from its target, on every hop). The exchange checks its subject token first (through
 * a per-process cache of at most 1 s), then writes the new token's lineage row and status entry in its
 * audit batch (`audit_append_rows_v2`); a revocation walks the lineage in its own transaction. Without a
 * rule between the two, an exchange whose check ran just before a revocation and whose write lands after
 * the revocation's walk would hand out a live child of a revoked token.
 *
 * The rule: `audit_append_rows_v2` now first takes a FOR SHARE lock on the status entries of the batch's
 * parent tokens, and after inserting the new entries, sets §7.1 INVALID (draft-ietf-oauth-status-list-20)
 * on every new entry whose parent's entry is not VALID. A revocation marks a level of the chain (an UPDATE:
 * row locks until it commits) before it reads the next level's lineage rows (revocation/reach.ts
 * `revokeDown`). So either the exchange's lock came first, and the revocation's UPDATE waits for the
 * exchange to commit and its next read sees the child; or the revocation's came first, and the exchange
 * waits for it to commit and then reads its parent as INVALID. The child is revoked either way.
 *
 * The same for a token of a grant (authorization code, refresh, and the grant at the root of an exchanged
 * chain: the entry's `grant_id`) that a revocation deletes while the token is being issued (a refresh in
 * flight during `baton revoke user`): the batch locks the grants' rows FOR SHARE, and a new entry whose
 * grant is gone is born INVALID. A revocation locks the grants (FOR UPDATE) before it reads their entries
 * (revocation/reach.ts `grantsBy`), so either it waits for the batch and reads its entry, or the batch
 * waits for it and finds the grant deleted.
 *
 * The rules look each parent and each grant up by its key, one row at a time (a batch holds a few): a join
 * on json_to_recordset let the planner hash-join every revoked entry, or every grant, per batch, which
 * doubled an exchange's PostgreSQL CPU in `npm run bench` and would grow with the tables.
 */
import type { Knex } from 'knex';

/** pg_advisory_xact_lock id of the audit chain (server/src/audit/writer.ts AUDIT_LOCK) */
const AUDIT_LOCK = 77_420_013;

/** audit_append_rows_v2 as 20261201000020 made it, with (`bornRevoked`) or without the rules above */
const appendRows = (bornRevoked: boolean) => `
  create or replace function audit_append_rows_v2(
    expected_seq bigint, expected_hash text, events json, lineage json, statuses json,
    out appended boolean, out head_seq bigint, out head_hash text
  ) language plpgsql as $$
  ${bornRevoked ? "declare r record; st smallint; born text[] := '{}';" : ''}
  begin
    perform pg_advisory_xact_lock(${AUDIT_LOCK});
    select e.seq, e.hash into head_seq, head_hash from audit_events e order by e.seq desc limit 1;
    if coalesce(head_seq, 0) <> expected_seq or coalesce(head_hash, expected_hash) <> expected_hash then
      appended := false;
      return;
    end if;
    ${
      bornRevoked
        ? `for r in select x.jti, x.parent_jti from json_to_recordset(lineage) as x(jti text, parent_jti text)
                where x.parent_jti is not null loop
      select p.status into st from status_list_entries p where p.jti = r.parent_jti for share;
      if found and st <> 0 then born := born || r.jti; end if;
    end loop;
    for r in select x.jti, x.grant_id from json_to_recordset(statuses) as x(jti text, grant_id text)
                where x.grant_id is not null loop
      perform 1 from oidc_payloads g
        where g.model = 'Grant' and g.id = r.grant_id and (g.expires_at is null or g.expires_at > now()) for share;
      if not found then born := born || r.jti; end if;
    end loop;`
        : ''
    }
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
    ${
      bornRevoked
        ? `if cardinality(born) > 0 then
      update status_list_entries set status = 1 where jti = any(born) and status = 0;
    end if;`
        : ''
    }
    appended := true;
  end $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(appendRows(true));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(appendRows(false));
}
