/**
 * The one group-commit writer of the audit trail and the token lineage. `write({ audit, lineage })`
 * resolves once both are committed, in one transaction: a token leaves baton only after its record is
 * durable (issue #13). Callers arriving while a batch is in flight share the next one, which is one
 * transaction holding one multi-row `INSERT … SELECT FROM unnest(…)` per table (COPY does not work on the
 * embedded store), so concurrent requests share a round trip instead of paying one each.
 *
 * Several processes on one PostgreSQL keep one gap-free chain: each batch takes `pg_advisory_xact_lock`
 * (AUDIT_LOCK), re-reads the chain head under it, chains its events after it and commits; the lock is held
 * once per batch, not per event. The in-memory head advances only after COMMIT, and a failed batch rejects
 * every caller in it (nothing of it was written).
 */
import type { Knex } from 'knex';
import type { LineageRow } from '../provider/lineage.ts';
import { chainEvents, GENESIS, type ChainedRow } from './chain.ts';
import type { AuditEvent } from './record.ts';

/** pg_advisory_xact_lock id of the audit chain (any process, any host) */
export const AUDIT_LOCK = 77_420_013;

/** events (and lineage rows) per transaction; more wait for the next batch */
const MAX_BATCH = 2000;

export interface AuditHead {
  seq: number;
  hash: string;
}

export interface AuditWriter {
  write(batch: { audit?: readonly AuditEvent[]; lineage?: readonly LineageRow[] }): Promise<void>;
  /** the last head this process committed (or read under the lock); GENESIS at seq 0 before any */
  head(): AuditHead;
  /** called after each committed batch that added events (checkpoints, audit/checkpoint.ts) */
  onCommit(listener: (head: AuditHead) => void): void;
}

interface Pending {
  audit: readonly AuditEvent[];
  lineage: readonly LineageRow[];
  done: (err?: Error) => void;
}

/** The head of the chain, read inside the transaction (under AUDIT_LOCK). */
export async function readHead(trx: Knex | Knex.Transaction): Promise<AuditHead> {
  const row = await trx('audit_events')
    .orderBy('seq', 'desc')
    .first<{ seq: string | number; hash: string } | undefined>('seq', 'hash');
  return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS };
}

async function insertAudit(trx: Knex.Transaction, rows: ChainedRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof ChainedRow>(k: K) => rows.map((r) => r[k]);
  await trx.raw(
    `insert into audit_events (seq, at, type, outcome, account_id, client_id, resource, jti, parent_jti, grant_id, event, prev_hash, hash)
     select seq, at, type, outcome, account_id, client_id, resource, jti, parent_jti, grant_id, event::jsonb, prev_hash, hash
     from unnest(?::bigint[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
       as x(seq, at, type, outcome, account_id, client_id, resource, jti, parent_jti, grant_id, event, prev_hash, hash)`,
    [
      col('seq'),
      col('at'),
      col('type'),
      col('outcome'),
      col('account_id'),
      col('client_id'),
      col('resource'),
      col('jti'),
      col('parent_jti'),
      col('grant_id'),
      rows.map((r) => JSON.stringify(r.event)),
      col('prev_hash'),
      col('hash'),
    ] as unknown as Knex.RawBinding[],
  );
}

async function insertLineage(trx: Knex.Transaction, rows: readonly LineageRow[]): Promise<void> {
  if (rows.length === 0) return;
  const col = <K extends keyof LineageRow>(k: K) => rows.map((r) => r[k]);
  await trx.raw(
    `insert into token_lineage (jti, parent_jti, grant_id, account_id, actor, audience, depth, expires_at)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::int[], ?::timestamptz[])`,
    [
      col('jti'),
      col('parent_jti'),
      col('grant_id'),
      col('account_id'),
      col('actor'),
      col('audience'),
      col('depth'),
      rows.map((r) => r.expires_at.toISOString()),
    ] as unknown as Knex.RawBinding[],
  );
}

/** One batch: one transaction, the lock, the head, both inserts. Resolves to the new head. */
async function commitBatch(db: Knex, batch: Pending[]): Promise<AuditHead | undefined> {
  const events = batch.flatMap((p) => p.audit);
  const lineage = batch.flatMap((p) => p.lineage);
  return db.transaction(async (trx) => {
    if (events.length === 0) {
      await insertLineage(trx, lineage);
      return undefined;
    }
    await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
    const rows = chainEvents(await readHead(trx), events);
    await insertAudit(trx, rows);
    await insertLineage(trx, lineage);
    const last = rows[rows.length - 1]!;
    return { seq: last.seq, hash: last.hash };
  });
}

/** Takes whole callers from the queue up to MAX_BATCH rows (at least one caller). */
function takeBatch(queue: Pending[]): Pending[] {
  let size = 0;
  let n = 0;
  while (n < queue.length) {
    const rows = queue[n]!.audit.length + queue[n]!.lineage.length;
    if (n > 0 && size + rows > MAX_BATCH) break;
    size += rows;
    n++;
  }
  return queue.splice(0, n);
}

export function auditWriter(db: Knex): AuditWriter {
  const queue: Pending[] = [];
  const listeners: ((head: AuditHead) => void)[] = [];
  let head: AuditHead = { seq: 0, hash: GENESIS };
  let writing = false;

  async function flush(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const batch = takeBatch(queue);
      try {
        const committed = await commitBatch(db, batch);
        if (committed) head = committed;
        for (const p of batch) p.done();
        if (committed) {
          for (const l of listeners) {
            try {
              l(committed);
            } catch {
              // a listener's failure (a checkpoint) is its own to report: the batch is committed
            }
          }
        }
      } catch (err) {
        const error = err instanceof Error ? err : new Error('audit write failed', { cause: err });
        for (const p of batch) p.done(error);
      }
    }
    writing = false;
  }

  return {
    write({ audit = [], lineage = [] }) {
      if (audit.length === 0 && lineage.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ audit, lineage, done: (err) => (err ? reject(err) : resolve()) });
        if (!writing) void flush();
      });
    },
    head: () => head,
    onCommit(listener) {
      listeners.push(listener);
    },
  };
}

const shared = new WeakMap<Knex, AuditWriter>();

/** The writer of this knex pool: every caller of the process on one store shares one queue. */
export function sharedAuditWriter(db: Knex): AuditWriter {
  let writer = shared.get(db);
  if (!writer) {
    writer = auditWriter(db);
    shared.set(db, writer);
  }
  return writer;
}
