/**
 * How many rows an UPDATE or DELETE touched. knex's `pg` client answers a number; knex-pglite (the embedded
 * store) answers PGlite's result object ({ affectedRows, rowCount, … }) for a DELETE. Every count baton
 * reports goes through here, so both stores say the same.
 */
export function affectedRows(result: unknown): number {
  if (typeof result === 'number') return result;
  if (result && typeof result === 'object') {
    const { affectedRows, rowCount } = result as { affectedRows?: unknown; rowCount?: unknown };
    if (typeof affectedRows === 'number') return affectedRows;
    if (typeof rowCount === 'number') return rowCount;
  }
  throw new TypeError(`affectedRows: not a row count (${typeof result})`);
}
