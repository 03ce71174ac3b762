/**
 * Which sign-in each of baton's browser sessions came from (the `session_logins` table, adapters/STORAGE.md),
 * so that sessions are found by account or by the upstream IdP's session (OpenID Connect Back-Channel Logout
 * 1.0 §2.1 `sid`) in every store, and ended through the Session adapter: with Redis, a session is keyed by
 * its cookie value only and cannot be searched. A session is named by its `uid` (stable for its life; its id,
 * the cookie value, is regenerated at each login: adapters/src/models.ts `payloadId`).
 */
import type { Knex } from 'knex';
import { payloadId, type Adapter } from '../../../adapters/src/models.ts';

const TABLE = 'session_logins';

export interface SessionLogin {
  sessionUid: string;
  idpId: string;
  /** the upstream ID token's `sid` (OIDC Back-Channel Logout 1.0 §2.1), when it had one */
  upstreamSid?: string | undefined;
  accountId: string;
  /** when the session expires (epoch seconds) */
  expiresAt: number;
}

const at = (epochSeconds: number) => new Date(epochSeconds * 1000);

/** One row per session: a later sign-in in the same session replaces it (the session has one login). */
export async function recordSessionLogin(db: Knex, l: SessionLogin): Promise<void> {
  const row = {
    idp_id: l.idpId,
    upstream_sid: l.upstreamSid ?? null,
    account_id: l.accountId,
    expires_at: at(l.expiresAt),
  };
  await db(TABLE)
    .insert({ session_uid: l.sessionUid, ...row })
    .onConflict('session_uid')
    .merge({ ...row, created_at: db.fn.now() });
}

/** A session saved again lives longer: so does its row (written at most once per `slackSeconds`). */
export async function extendSessionLogin(
  db: Knex,
  sessionUid: string,
  expiresAt: number,
  slackSeconds: number,
): Promise<void> {
  await db(TABLE)
    .where({ session_uid: sessionUid })
    .where('expires_at', '<', at(expiresAt - slackSeconds))
    .update({ expires_at: at(expiresAt) });
}

export type SessionSelector =
  /** the sessions that came from one IdP session (§2.6: `sid`, with or without `sub`) */
  | { idp: string; sid: string; account?: string }
  /** every session of an account that came from this IdP (§2.6: `sub` alone) */
  | { idp: string; account: string }
  /** every session of an account (`revoke user`) */
  | { account: string };

/** The live sessions (their uids and accounts) a selector names. */
export async function sessionLogins(
  db: Knex | Knex.Transaction,
  which: SessionSelector,
): Promise<{ uid: string; account: string }[]> {
  const q = db(TABLE).where('expires_at', '>', db.fn.now());
  if ('idp' in which) void q.where('idp_id', which.idp);
  if ('sid' in which) void q.where('upstream_sid', which.sid);
  if (which.account !== undefined) void q.where('account_id', which.account);
  const rows = await q.select<{ session_uid: string; account_id: string }[]>('session_uid', 'account_id');
  return rows.map((r) => ({ uid: r.session_uid, account: r.account_id }));
}

/**
 * Ends the sessions (the Session adapter's `destroy`, in whichever store holds them), then forgets their
 * rows: how many live sessions were ended. Idempotent: a session already gone counts for nothing.
 */
export async function endSessions(db: Knex, sessions: Adapter, uids: readonly string[]): Promise<number> {
  let ended = 0;
  for (const uid of uids) {
    const id = payloadId(await sessions.findByUid(uid));
    if (id === undefined) continue;
    await sessions.destroy(id);
    ended++;
  }
  if (uids.length) await db(TABLE).whereIn('session_uid', uids).delete();
  return ended;
}

/** The GC: rows of sessions that expired. */
export async function collectSessionLogins(db: Knex): Promise<number> {
  return db(TABLE).where('expires_at', '<=', db.fn.now()).delete();
}
