/**
 * KEK rotation, the step after every process runs with the new `keys.encryption_key` and the old one in
 * `keys.previous_encryption_keys`: re-encrypts every stored secret that is not under the current KEK
 * (signing keys' private JWKs, server secrets, accounts' upstream refresh tokens, the gateway's upstream
 * secrets, the people's tokens at brokered upstreams, registered clients' secrets; a client secret stored in the clear by an older build is sealed
 * too), in one transaction under
 * the key-change lock, so that the old KEK can then be dropped from the configuration. Idempotent: a
 * second run finds nothing to do.
 */
import type { Knex } from 'knex';
import { KEY_CHANGE_LOCK } from './keystore.ts';
import type { Kek } from './kek.ts';
import { SEALED_SECRET } from '../consts.ts';

/** Where secrets are stored: table, key columns, JWE column, and the column recording the KEK id, if any. */
const STORED = [
  { table: 'signing_keys', key: ['kid'], jwe: 'private_jwe', kekId: 'kek_id' },
  { table: 'server_secrets', key: ['name'], jwe: 'jwe', kekId: 'kek_id' },
  { table: 'accounts', key: ['id'], jwe: 'upstream_jwe', kekId: undefined },
  { table: 'upstream_secrets', key: ['name', 'version'], jwe: 'jwe', kekId: 'kek_id' },
  // issue #20: the people's tokens at brokered upstreams (both columns; the row's kek_id follows)
  { table: 'upstream_grants', key: ['account_id', 'gateway_id'], jwe: 'refresh_jwe', kekId: 'kek_id' },
  { table: 'upstream_grants', key: ['account_id', 'gateway_id'], jwe: 'access_jwe', kekId: 'kek_id' },
] as const;

export type RewrapCounts = Record<(typeof STORED)[number]['table'] | 'client_secrets', number>;

export async function rewrapSecrets(db: Knex, kek: Kek): Promise<RewrapCounts> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
    const counts = {
      signing_keys: 0,
      server_secrets: 0,
      accounts: 0,
      upstream_secrets: 0,
      upstream_grants: 0,
      client_secrets: 0,
    };
    for (const s of STORED) {
      const rows = await trx(s.table)
        .whereNotNull(s.jwe)
        .select<Record<string, string>[]>(...s.key, s.jwe)
        .forUpdate();
      for (const row of rows) {
        const jwe = row[s.jwe]!;
        if (kek.idOf(jwe) === kek.id) continue;
        const rewrapped = await kek.encrypt(await kek.decrypt(jwe));
        await trx(s.table)
          .where(Object.fromEntries(s.key.map((k) => [k, row[k]!])))
          .update({ [s.jwe]: rewrapped, ...(s.kekId ? { [s.kekId]: kek.id } : {}) });
        counts[s.table]++;
      }
    }
    // registered clients' secrets live inside their oidc_payloads record
    // (server/src/provider/client-registry/stored-clients.ts)
    const clients = await trx('oidc_payloads')
      .where({ model: 'Client' })
      .select<{ id: string; payload: Record<string, unknown> | string }[]>('id', 'payload')
      .forUpdate();
    for (const row of clients) {
      const payload =
        typeof row.payload === 'string' ? (JSON.parse(row.payload) as Record<string, unknown>) : row.payload;
      const { client_secret: plain, [SEALED_SECRET]: sealed, ...rest } = payload;
      let secret: string;
      if (typeof sealed === 'string') {
        if (kek.idOf(sealed) === kek.id) continue;
        secret = await kek.decrypt(sealed);
      } else if (typeof plain === 'string') {
        secret = plain;
      } else continue;
      await trx('oidc_payloads')
        .where({ model: 'Client', id: row.id })
        .update({ payload: JSON.stringify({ ...rest, [SEALED_SECRET]: await kek.encrypt(secret) }) });
      counts.client_secrets++;
    }
    return counts;
  });
}
