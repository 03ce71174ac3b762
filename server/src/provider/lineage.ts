/**
 * Writes token_lineage rows through the audit trail's group-commit writer (audit/writer.ts): rows recorded
 * while a write is in flight go out together in the next INSERT, so concurrent exchanges share one round
 * trip, in the same transaction as the audit events of that batch. Each caller's promise settles when its
 * own row is committed (an exchange answers only after its lineage is durable).
 */
import type { Knex } from 'knex';
import { sharedAuditWriter } from '../audit/writer.ts';
import type { LineageRow } from '../audit/record.ts';

export function lineageWriter(db: Knex) {
  const writer = sharedAuditWriter(db);
  return function record(row: LineageRow): Promise<void> {
    return writer.write({ lineage: [row] });
  };
}

/**
 * Deletes lineage rows whose token expired more than `retentionDays` ago, in bounded batches (every process
 * may run it: deletes are idempotent). A row is needed for cascading revocation only while its token lives;
 * the retention keeps chains readable for audit after that.
 */
export async function collectLineage(db: Knex, retentionDays: number, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted: unknown[] = await db('token_lineage')
      .whereIn(
        'jti',
        db('token_lineage')
          .select('jti')
          .where('expires_at', '<', db.raw('now() - make_interval(days => ?)', [retentionDays]))
          .limit(batch),
      )
      .delete(['jti']);
    total += deleted.length;
    if (deleted.length < batch) return total;
  }
}
