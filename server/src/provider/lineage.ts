/**
 * Writes token_lineage rows with group commit: rows recorded while a write is in flight go out together in
 * the next INSERT, so concurrent exchanges share one round trip. Each caller's promise settles when its own
 * row is committed (an exchange answers only after its lineage is durable).
 */
import type { Knex } from 'knex';

export interface LineageRow {
  jti: string;
  parent_jti: string;
  grant_id: string | null;
  account_id: string;
  actor: string;
  audience: string;
  depth: number;
  expires_at: Date;
}

export function lineageWriter(db: Knex) {
  let queue: { row: LineageRow; done: (err?: Error) => void }[] = [];
  let writing = false;

  async function flush(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, 500);
      queue = queue.slice(batch.length);
      try {
        await db('token_lineage').insert(batch.map((b) => b.row));
        for (const b of batch) b.done();
      } catch (err) {
        const error = err instanceof Error ? err : new Error('lineage insert failed', { cause: err });
        for (const b of batch) b.done(error);
      }
    }
    writing = false;
  }

  return function record(row: LineageRow): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      queue.push({
        row,
        done: (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      });
      if (!writing) void flush();
    });
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
