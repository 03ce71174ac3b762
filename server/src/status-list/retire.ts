/**
 * draft-ietf-oauth-status-list-20 §13.1: once every token of a list has expired, the list need not be
 * served. A list holds tokens expiring within its window (status-list/allocate.ts), so it retires when its
 * window ended more than GRACE_SECONDS ago (clock skew): `GET /statuslists/:id` answers 404 from then on,
 * and its entries and blocks are deleted. Run by the storage GC of every process (idempotent).
 */
import type { Knex } from 'knex';

export const GRACE_SECONDS = 300;

/** Retires the lists whose window has passed; returns how many it retired. */
export async function retireStatusLists(db: Knex, graceSeconds = GRACE_SECONDS): Promise<number> {
  return db.transaction(async (trx) => {
    const retired: { id: number }[] = await trx('status_lists')
      .whereNull('retired_at')
      .where('window_end', '<', trx.raw('now() - make_interval(secs => ?)', [graceSeconds]))
      .update({ retired_at: trx.fn.now() }, ['id']);
    const ids = trx('status_lists').select('id').whereNotNull('retired_at');
    await trx('status_list_entries').whereIn('list_id', ids).delete();
    await trx('status_list_blocks').whereIn('list_id', ids).delete();
    return retired.length;
  });
}
