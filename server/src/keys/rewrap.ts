/**
 * KEK rotation, the step after every process runs with the new `keys.encryption_key` and the old one in
 * `keys.previous_encryption_keys`: re-encrypts every stored secret that is not under the current KEK
 * (signing keys' private JWKs, server secrets, accounts' upstream refresh tokens), in one transaction under
 * the key-change lock, so that the old KEK can then be dropped from the configuration. Idempotent: a
 * second run finds nothing to do.
 */
import type { Knex } from 'knex';
import { KEY_CHANGE_LOCK } from './keystore.ts';
import type { Kek } from './kek.ts';

/** Where secrets are stored: table, key column, JWE column, and the column recording the KEK id, if any. */
const STORED = [
  { table: 'signing_keys', key: 'kid', jwe: 'private_jwe', kekId: 'kek_id' },
  { table: 'server_secrets', key: 'name', jwe: 'jwe', kekId: 'kek_id' },
  { table: 'accounts', key: 'id', jwe: 'upstream_jwe', kekId: undefined },
] as const;

export type RewrapCounts = Record<(typeof STORED)[number]['table'], number>;

export async function rewrapSecrets(db: Knex, kek: Kek): Promise<RewrapCounts> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
    const counts = { signing_keys: 0, server_secrets: 0, accounts: 0 };
    for (const s of STORED) {
      const rows = await trx(s.table).whereNotNull(s.jwe).select<Record<string, string>[]>(s.key, s.jwe).forUpdate();
      for (const row of rows) {
        const jwe = row[s.jwe]!;
        if (kek.idOf(jwe) === kek.id) continue;
        const rewrapped = await kek.encrypt(await kek.decrypt(jwe));
        await trx(s.table)
          .where(s.key, row[s.key]!)
          .update({ [s.jwe]: rewrapped, ...(s.kekId ? { [s.kekId]: kek.id } : {}) });
        counts[s.table]++;
      }
    }
    return counts;
  });
}
