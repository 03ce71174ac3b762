/**
 * The one group-commit writer of the audit trail, the token lineage and the Token Status List entries.
 * `write({ audit, lineage, statuses })` resolves once all are committed, in one transaction: a token leaves baton only after its record is
 * durable (issue #13). Callers arriving while a batch is in flight share the next one, which is one
 * transaction holding one multi-row `INSERT … SELECT FROM json_to_recordset(…)` per table (COPY does not
 * work on the embedded store), so concurrent requests share a round trip instead of paying one each.
 *
 * Several processes on one PostgreSQL keep one gap-free chain: each batch is one call of
 * `audit_append_rows_v2`, which takes `pg_advisory_xact_lock` (AUDIT_LOCK), checks the chain head the batch
 * was chained after (this process's last one) and inserts; when another process appended since, it returns
 * the new head and the batch is chained again after it. The lock is held once per batch, not per event,
 * for one round trip. The in-memory head advances only after COMMIT, and a failed batch rejects every
 * caller in it (nothing of it was written).
 */
import type { Knex } from 'knex';
import type { LineageRow } from './record.ts';
import { GENESIS, sealEvents, type SealedRow } from './chain.ts';
import type { AuditEvent } from './record.ts';
import type { StatusEntryRow } from '../status-list/entry.ts';

/** pg_advisory_xact_lock id of the audit chain (any process, any host) */
export const AUDIT_LOCK = 77_420_013;

/** events (and lineage rows) per transaction; more wait for the next batch */
const MAX_BATCH = 2000;

export interface AuditHead {
  seq: number;
  hash: string;
}

export interface AuditWriter {
  write(batch: AuditBatch): Promise<void>;
  /** the last head this process committed (or read under the lock); GENESIS at seq 0 before any */
  head(): AuditHead;
  /** called after each committed batch that added events (checkpoints, audit/checkpoint.ts) */
  onCommit(listener: (head: AuditHead) => void): void;
  /** whether audit events are written (`audit.enabled`); when not, only the lineage rows are */
  events: boolean;
}

/** what one caller hands the writer: committed together, in one transaction */
export interface AuditBatch {
  audit?: readonly AuditEvent[];
  lineage?: readonly LineageRow[];
  /** Token Status List entries (status-list/entry.ts): written whether audit events are or not */
  statuses?: readonly StatusEntryRow[];
}

export interface AuditWriterOptions {
  /**
   * `audit.enabled`: false drops every audit event handed to `write` (so no batch adds to the chain and no
   * checkpoint follows) and keeps writing the lineage rows, which revocation depends on
   */
  events?: boolean;
}

interface Pending {
  audit: readonly AuditEvent[];
  lineage: readonly LineageRow[];
  statuses: readonly StatusEntryRow[];
  done: (err?: Error) => void;
}

/** The head of the chain, read inside the transaction (under AUDIT_LOCK). */
export async function readHead(trx: Knex | Knex.Transaction): Promise<AuditHead> {
  const row = await trx('audit_events')
    .orderBy('seq', 'desc')
    .first<{ seq: string | number; hash: string } | undefined>('seq', 'hash');
  return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS };
}

const text = JSON.stringify as (value: string | null) => string;

/**
 * The batch's events as the JSON text `audit_append_rows_v2` takes (migrations/…_create_audit_append_rows.ts):
 * an array of objects keyed by column, each event as its canonical text (the one its hash covers), built
 * here rather than by the pg driver quoting every element of a column array.
 */
function eventsJson(sealed: readonly SealedRow[]): string {
  let out = '[';
  for (const { row: r, eventText } of sealed) {
    out +=
      `${out.length > 1 ? ',' : ''}{"seq":${r.seq},"at":${text(r.at)},"type":${text(r.type)},` +
      `"outcome":${text(r.outcome)},"account_id":${text(r.account_id)},"client_id":${text(r.client_id)},` +
      `"resource":${text(r.resource)},"jti":${text(r.jti)},"parent_jti":${text(r.parent_jti)},` +
      `"grant_id":${text(r.grant_id)},"event":${eventText},"prev_hash":${text(r.prev_hash)},"hash":${text(r.hash)}}`;
  }
  return `${out}]`;
}

const APPEND = 'select appended, head_seq, head_hash from audit_append_rows_v2(?, ?, ?::json, ?::json, ?::json)';

/**
 * One batch in one round trip: `audit_append_rows_v2` takes the lock, checks the head the events were chained
 * after, and inserts the events and the lineage rows in the statement's own transaction. When another
 * process appended since (the head moved), the events are chained again after the head it returns. Resolves
 * to the new head (undefined for a batch of lineage rows only).
 */
async function commitBatch(db: Knex, batch: Pending[], known: AuditHead): Promise<AuditHead | undefined> {
  const events = batch.flatMap((p) => p.audit);
  const lineage = batch.flatMap((p) => p.lineage);
  const lineageJson = JSON.stringify(lineage);
  // a StatusEntryRow is exactly the columns, like a LineageRow
  const statusesJson = JSON.stringify(batch.flatMap((p) => p.statuses));
  let head = known;
  for (;;) {
    const rows = sealEvents(head, events);
    // a LineageRow is exactly the columns (expires_at: Date#toJSON, ISO 8601)
    const bindings = [head.seq, head.hash, eventsJson(rows), lineageJson, statusesJson];
    type Answer = { appended: boolean; head_seq: string | number | null; head_hash: string | null };
    const result: { rows: Answer[] } = await db.raw(APPEND, bindings);
    const answer = result.rows[0]!;
    if (answer.appended) {
      const last = rows.at(-1)?.row;
      return last ? { seq: last.seq, hash: last.hash } : undefined;
    }
    head =
      answer.head_seq === null ? { seq: 0, hash: GENESIS } : { seq: Number(answer.head_seq), hash: answer.head_hash! };
  }
}

/** Takes whole callers from the queue up to MAX_BATCH rows (at least one caller). */
function takeBatch(queue: Pending[]): Pending[] {
  let size = 0;
  let n = 0;
  while (n < queue.length) {
    const rows = queue[n]!.audit.length + queue[n]!.lineage.length + queue[n]!.statuses.length;
    if (n > 0 && size + rows > MAX_BATCH) break;
    size += rows;
    n++;
  }
  return queue.splice(0, n);
}

export function auditWriter(db: Knex, { events = true }: AuditWriterOptions = {}): AuditWriter {
  const queue: Pending[] = [];
  const listeners: ((head: AuditHead) => void)[] = [];
  let head: AuditHead = { seq: 0, hash: GENESIS };
  let writing = false;

  async function flush(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const batch = takeBatch(queue);
      try {
        const committed = await commitBatch(db, batch, head);
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

  const writer: AuditWriter = {
    write({ audit: given = [], lineage = [], statuses = [] }) {
      const audit = writer.events ? given : [];
      if (audit.length === 0 && lineage.length === 0 && statuses.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ audit, lineage, statuses, done: (err) => (err ? reject(err) : resolve()) });
        if (!writing) void flush();
      });
    },
    head: () => head,
    onCommit(listener) {
      listeners.push(listener);
    },
    events,
  };
  return writer;
}

const shared = new WeakMap<Knex, AuditWriter>();

/**
 * The writer of this knex pool: every caller of the process on one store shares one queue. The server's
 * wiring (main.ts) passes `audit.enabled` as `options.events`, which sets it for every caller of the pool
 * (whichever made the writer first); callers without options leave it as it is.
 */
export function sharedAuditWriter(db: Knex, options?: AuditWriterOptions): AuditWriter {
  let writer = shared.get(db);
  if (!writer) {
    writer = auditWriter(db, options);
    shared.set(db, writer);
  } else if (options?.events !== undefined) {
    writer.events = options.events;
  }
  return writer;
}
