/**
 * The policy reload generation (table `policy_generation`, one row): a reload asked of one process bumps it,
 * and every process that sees it move re-reads its own configuration file (follow.ts). A counter, not a
 * clock: no two processes need agree on the time.
 */
import type { Knex } from 'knex';

/** the generation now (0: no reload was ever asked) */
export async function currentGeneration(db: Knex): Promise<number> {
  const row = await db('policy_generation')
    .where({ id: 1 })
    .first<{ generation: string | number } | undefined>('generation');
  return Number(row?.generation ?? 0);
}

/** Moves the generation on, atomically (the row's lock orders concurrent bumps); resolves to the new one. */
export async function bumpGeneration(db: Knex): Promise<number> {
  const { rows } = await db.raw<{ rows: { generation: string | number }[] }>(
    `insert into policy_generation (id, generation, requested_at) values (1, 1, now())
     on conflict (id) do update set generation = policy_generation.generation + 1, requested_at = now()
     returning generation`,
  );
  return Number(rows[0]!.generation);
}
