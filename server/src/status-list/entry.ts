/**
 * The Token Status List entries (draft-ietf-oauth-status-list-20 §6.2: a Referenced Token names its list
 * and index): one `status_list_entries` row per JWT access token, and the one operation that flips them.
 */
import type { Knex } from 'knex';
import { INVALID, VALID } from './format.ts';

/** A status_list_entries row as the audit writer inserts it (adapters/STORAGE.md), with its token. */
export interface StatusEntryRow {
  list_id: number;
  idx: number;
  jti: string;
  account_id: string | null;
  client_id: string | null;
  /** the oidc-provider grant at the root of the token's chain */
  grant_id: string | null;
  expires_at: Date;
}

/** which entries to revoke: any of them matches (an empty selection revokes nothing) */
export interface RevokedSelection {
  jtis?: readonly string[] | undefined;
  grantId?: string | undefined;
  accountId?: string | undefined;
  clientId?: string | undefined;
}

/**
 * Sets §7.1 INVALID (0x01) on every entry the selection names that is still VALID, in `db` (a transaction:
 * the caller's revocation, when it has one). Returns how many entries changed. Every process serves the
 * new bits from its next read of the list (status-list/serve.ts).
 */
export async function markRevoked(db: Knex | Knex.Transaction, which: RevokedSelection): Promise<number> {
  const jtis = [...new Set(which.jtis ?? [])];
  const { grantId, accountId, clientId } = which;
  if (jtis.length === 0 && !grantId && !accountId && !clientId) return 0;
  return db('status_list_entries')
    .where('status', VALID)
    .where((w) => {
      if (jtis.length) void w.orWhereIn('jti', jtis);
      if (grantId) void w.orWhere('grant_id', grantId);
      if (accountId) void w.orWhere('account_id', accountId);
      if (clientId) void w.orWhere('client_id', clientId);
    })
    .update({ status: INVALID });
}

/** Whether the token's entry is set to anything but §7.1 VALID (false when baton keeps no entry for it). */
export async function isMarkedRevoked(db: Knex, jti: string): Promise<boolean> {
  const row = await db('status_list_entries').where({ jti }).first<{ status: number } | undefined>('status');
  return row !== undefined && row.status !== VALID;
}
