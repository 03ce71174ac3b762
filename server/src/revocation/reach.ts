/**
 * What a revocation reaches, read (and changed) in its PostgreSQL transaction: the grants of an account or
 * a client (oidc-provider's Grant records, durable in PostgreSQL on every backend: adapters/STORAGE.md),
 * the JWT access tokens by their Token Status List entries (draft-ietf-oauth-status-list-20 §6.2: one entry
 * per token, naming its user, client and root grant), and every token exchanged from those, on every hop
 * (RFC 8693, the token_lineage table).
 */
import type { Knex } from 'knex';
import { markRevoked } from '../status-list/entry.ts';

/** a token reached: its id and expiry (epoch seconds) */
export interface Reached {
  jti: string;
  exp: number;
}

const PAYLOADS = 'oidc_payloads';
/** PostgreSQL takes at most 65535 parameters a statement: long id lists go in slices */
const SLICE = 5000;

export function slices<T>(all: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < all.length; i += SLICE) out.push(all.slice(i, i + SLICE));
  return out;
}

const live = (q: Knex.QueryBuilder) => void q.whereRaw('(expires_at is null or expires_at > now())');

/**
 * The ids of the live grants whose payload names `field` = `value` (accountId or clientId), locked FOR
 * UPDATE before their tokens are read: a token of one of them being issued meanwhile is either written
 * before this read, or waits and is born revoked (migrations/20261201000030).
 */
export async function grantsBy(
  db: Knex.Transaction,
  field: 'accountId' | 'clientId',
  value: string,
): Promise<string[]> {
  const rows = await db(PAYLOADS)
    .where({ model: 'Grant' })
    .whereRaw(`payload->>? = ?`, [field, value])
    .where(live)
    .forUpdate()
    .select<{ id: string }[]>('id');
  return rows.map((r) => r.id);
}

/** whether the grant is live, locked FOR UPDATE as grantsBy does */
export async function grantExists(db: Knex.Transaction, id: string): Promise<boolean> {
  return (await db(PAYLOADS).where({ model: 'Grant', id }).where(live).forUpdate().first('id')) !== undefined;
}

/** the status list entries (their tokens) one of the selection names */
export async function entriesOf(
  db: Knex.Transaction,
  which: { jtis?: string[]; grantIds?: string[]; accountId?: string; clientId?: string },
): Promise<Reached[]> {
  const rows: { jti: string; expires_at: Date | string }[] = [];
  const select = (where: (q: Knex.QueryBuilder) => void) =>
    db('status_list_entries').where(where).select<{ jti: string; expires_at: Date }[]>('jti', 'expires_at');
  for (const part of slices(which.jtis ?? [])) rows.push(...(await select((q) => void q.whereIn('jti', part))));
  for (const part of slices(which.grantIds ?? []))
    rows.push(...(await select((q) => void q.whereIn('grant_id', part))));
  if (which.accountId) rows.push(...(await select((q) => void q.where('account_id', which.accountId))));
  if (which.clientId) rows.push(...(await select((q) => void q.where('client_id', which.clientId))));
  return rows.map(reached);
}

/** the tokens exchanged by `actor` (token_lineage rows whose actor it is) */
export async function exchangedBy(db: Knex.Transaction, actor: string): Promise<Reached[]> {
  const rows = await db('token_lineage')
    .where({ actor })
    .select<{ jti: string; expires_at: Date }[]>('jti', 'expires_at');
  return rows.map(reached);
}

/** whether baton wrote a lineage row for `jti` (a token it issued by exchange) */
export async function inLineage(db: Knex.Transaction, jti: string): Promise<Reached | undefined> {
  const row = await db('token_lineage')
    .where({ jti })
    .first<{ jti: string; expires_at: Date } | undefined>('jti', 'expires_at');
  return row ? reached(row) : undefined;
}

/**
 * Revokes `roots` and every token exchanged from them, on every hop (RFC 8693 §1.1), in `trx`: each level
 * of the chain is marked INVALID in the Token Status List (draft-ietf-oauth-status-list-20 §7.1) before the
 * next level's lineage rows are read. The marks hold row locks until the transaction commits, and an
 * exchange's write locks its parent's entry first (migrations/20261201000030), so a token exchanged while
 * the revocation runs is either read here or born revoked. Returns every token reached, roots included.
 */
export async function revokeDown(trx: Knex.Transaction, roots: readonly Reached[]): Promise<Reached[]> {
  const reachedBy = new Map(roots.map((t) => [t.jti, t]));
  let level = [...reachedBy.values()];
  while (level.length) {
    const next: Reached[] = [];
    for (const part of slices(level.map((t) => t.jti))) {
      await markRevoked(trx, { jtis: part });
      const children = await trx('token_lineage')
        .whereIn('parent_jti', part)
        .select<{ jti: string; expires_at: Date }[]>('jti', 'expires_at');
      for (const child of children.map(reached)) {
        if (reachedBy.has(child.jti)) continue;
        reachedBy.set(child.jti, child);
        next.push(child);
      }
    }
    level = next;
  }
  return [...reachedBy.values()];
}

/** RFC 6749 §6 refresh tokens of the grants: deleted; how many were live */
export async function deleteRefreshTokens(db: Knex.Transaction, grantIds: readonly string[]): Promise<number> {
  let live = 0;
  for (const part of slices(grantIds)) {
    const rows = await db(PAYLOADS)
      .where({ model: 'RefreshToken' })
      .whereIn('grant_id', part)
      .delete<{ expires_at: Date | null; consumed_at: Date | null }[]>(['expires_at', 'consumed_at']);
    live += rows.filter((r) => !r.consumed_at && (!r.expires_at || new Date(r.expires_at) > new Date())).length;
  }
  return live;
}

export async function deleteGrants(db: Knex.Transaction, grantIds: readonly string[]): Promise<void> {
  for (const part of slices(grantIds)) await db(PAYLOADS).where({ model: 'Grant' }).whereIn('id', part).delete();
}

/**
 * The account's oidc-provider sessions where they are in PostgreSQL (the `postgres` and embedded stores);
 * with Redis, sessions are keyed by their cookie value only: revoke.ts ends those through the session index
 * (sessions/logins.ts).
 */
export async function deleteSessions(db: Knex.Transaction, accountId: string): Promise<number> {
  const rows = await db(PAYLOADS)
    .where({ model: 'Session' })
    .whereRaw(`payload->>'accountId' = ?`, [accountId])
    .delete(['id']);
  return rows.length;
}

function reached(row: { jti: string; expires_at: Date | string }): Reached {
  return { jti: row.jti, exp: Math.floor(new Date(row.expires_at).getTime() / 1000) };
}
