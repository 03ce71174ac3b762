/**
 * The audit trail (server/src/audit/): `audit_events`, one row per decision baton made, hash-chained in the
 * order of `seq` (dense, gap-free, assigned by the one writer under an advisory lock, so it is not a
 * sequence: a sequence leaves gaps on rollback), and `audit_checkpoints`, the signed heads of that chain
 * (server/src/audit/checkpoint.ts; models: AWS CloudTrail digest files, C2SP tlog-checkpoint signed notes).
 *
 * A trigger refuses every UPDATE, DELETE and TRUNCATE of `audit_events`. The one way to delete is
 * `audit_retain(cutoff)`: it removes the rows older than the newest checkpoint before `cutoff`, from the old
 * end only, and keeps that checkpointed row, so what remains still verifies against a signed checkpoint.
 * (A superuser can still disable the trigger: the hash chain and the exported checkpoints catch that.)
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigInteger('seq').primary();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('type').notNullable();
    t.text('outcome').notNullable();
    t.text('account_id');
    t.text('client_id');
    t.text('resource');
    t.text('jti');
    t.text('parent_jti');
    t.text('grant_id');
    t.jsonb('event').notNullable();
    t.text('prev_hash').notNullable();
    t.text('hash').notNullable();
    t.index(['account_id', 'seq']);
    t.index(['client_id', 'seq']);
    t.index(['resource', 'seq']);
    t.index(['jti']);
    t.index(['parent_jti']);
    t.index(['at']);
  });
  await knex.schema.createTable('audit_checkpoints', (t) => {
    // the audit_events seq it seals, and that row's hash
    t.bigInteger('seq').primary();
    t.text('hash').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.text('kid').notNullable();
    t.text('signature').notNullable();
    // the checkpoint before it (null for the first), and the SHA-256 of that checkpoint's signed note
    t.bigInteger('prev_seq');
    t.text('prev_digest');
  });
  await knex.raw(`
    create function audit_events_append_only() returns trigger language plpgsql as $$
    declare
      below bigint := nullif(current_setting('baton.audit_retain_below', true), '')::bigint;
    begin
      -- only audit_retain() sets the limit, and only to a checkpointed seq (rows older than it may go)
      if tg_op = 'DELETE' and old.seq < below and exists (select 1 from audit_checkpoints where seq = below) then
        return old;
      end if;
      raise exception 'audit_events is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`
    create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function audit_events_append_only()`);
  await knex.raw(`
    create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function audit_events_append_only()`);
  // the retention: up to the newest checkpoint older than cutoff, whose row stays as the chain's new anchor
  await knex.raw(`
    create function audit_retain(cutoff timestamptz) returns bigint language plpgsql as $$
    declare
      upto bigint;
      deleted bigint;
    begin
      select max(c.seq) into upto from audit_checkpoints c join audit_events e on e.seq = c.seq where e.at < cutoff;
      if upto is null then
        return 0;
      end if;
      perform set_config('baton.audit_retain_below', upto::text, true);
      delete from audit_events where seq < upto;
      get diagnostics deleted = row_count;
      perform set_config('baton.audit_retain_below', '', true);
      return deleted;
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists audit_retain(timestamptz)');
  await knex.schema.dropTable('audit_checkpoints');
  await knex.schema.dropTable('audit_events');
  await knex.raw('drop function if exists audit_events_append_only()');
}
