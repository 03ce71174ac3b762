/**
 * One operation cuts a person, a client, a grant or a token off (issue #14): every token it reaches, on
 * every hop of its exchanges, is revoked at introspection (RFC 7662 §2.2 `active: false`) and in the Token
 * Status List (draft-ietf-oauth-status-list-20 §7.1 INVALID), so a resource server reading the list refuses
 * it within the list's ttl; and the grants, refresh tokens (RFC 6749 §6), codes and consents behind it go.
 *
 * All or nothing where the store allows: every PostgreSQL change (status bits, grants, refresh tokens,
 * consents, sessions held there) in one transaction; then, once it committed, the revocations held in the
 * hot store (RevokedToken entries that introspection reads, authorization codes and opaque tokens of the
 * grants): idempotent, tried twice, and a failure reported as RevocationIncomplete (run it again), never
 * a partial revocation answered as done.
 */
import type { Knex } from 'knex';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { AccountStore } from '../accounts/store.ts';
import { endSessions, sessionLogins } from '../sessions/logins.ts';
import {
  deleteGrants,
  deleteRefreshTokens,
  deleteSessions,
  entriesOf,
  exchangedBy,
  grantExists,
  grantsBy,
  inLineage,
  revokeDown,
  slices,
  type Reached,
} from './reach.ts';

export type RevocationTarget = { user: string } | { client: string } | { grant: string } | { token: string };
export type TargetKind = 'user' | 'client' | 'grant' | 'token';

export interface RevocationStores {
  db: Knex;
  adapterFor(model: string): Adapter;
  accounts: Pick<AccountStore, 'revokeConsents'>;
  /** whether a client id is configured (static clients); registered ones are found in the store */
  isStaticClient(clientId: string): boolean;
}

export interface RevocationCounts {
  /** JWT access tokens reached that had not expired (exchanged descendants included) */
  tokens: number;
  grants: number;
  refresh_tokens: number;
  consents: number;
  /** sessions ended: those held in PostgreSQL, and those the session index names in any store (Redis) */
  sessions: number;
}

/** The counts of a revocation's result, in their order (the audit record and the admin API answer show them). */
export const countsOf = (r: RevocationCounts): RevocationCounts => ({
  tokens: r.tokens,
  grants: r.grants,
  refresh_tokens: r.refresh_tokens,
  consents: r.consents,
  sessions: r.sessions,
});

/** The target does not exist: nothing was changed. */
export class UnknownTarget extends Error {
  override name = 'UnknownTarget';
}

/** The PostgreSQL part committed, the hot store's part failed twice: run the revocation again. */
export class RevocationIncomplete extends Error {
  override name = 'RevocationIncomplete';
}

export const targetOf = (t: RevocationTarget): { kind: TargetKind; id: string } => {
  const [kind, id] = Object.entries(t)[0] as [TargetKind, string];
  return { kind, id };
};

interface Plan {
  tokens: Reached[];
  grants: string[];
  /** the sessions of a user the session index names (sessions/logins.ts), ended after the commit */
  sessionUids: string[];
  counts: RevocationCounts;
}

export async function revoke(stores: RevocationStores, target: RevocationTarget): Promise<RevocationCounts> {
  const { kind, id } = targetOf(target);
  const plan = await stores.db.transaction((trx) => planAndApply(stores, trx, kind, id));
  let ended = 0;
  await twice(async () => {
    ended += await hotStore(stores, plan);
  });
  return { ...plan.counts, sessions: plan.counts.sessions + ended };
}

/** The targets' roots: the grants it takes, the tokens it names; UnknownTarget when it names nothing. */
async function roots(stores: RevocationStores, trx: Knex.Transaction, kind: TargetKind, id: string) {
  switch (kind) {
    case 'user': {
      if (!(await trx('accounts').where({ id }).first('id'))) throw new UnknownTarget(`no account ${id}`);
      const grants = await grantsBy(trx, 'accountId', id);
      return { grants, tokens: await entriesOf(trx, { accountId: id, grantIds: grants }) };
    }
    case 'client': {
      const grants = await grantsBy(trx, 'clientId', id);
      // RFC 8693 §4.1: a token whose actor chain passes through the client was exchanged by it
      const tokens = [...(await entriesOf(trx, { clientId: id, grantIds: grants })), ...(await exchangedBy(trx, id))];
      const known =
        stores.isStaticClient(id) ||
        (await trx('oidc_payloads').where({ model: 'Client', id }).first('id')) !== undefined ||
        tokens.length > 0;
      if (!known) throw new UnknownTarget(`no client ${id}`);
      return { grants, tokens };
    }
    case 'grant': {
      const exists = await grantExists(trx, id); // locks it before its tokens are read (reach.ts)
      const tokens = await entriesOf(trx, { grantIds: [id] });
      if (!exists && tokens.length === 0) throw new UnknownTarget(`no grant ${id}`);
      return { grants: exists ? [id] : [], tokens };
    }
    case 'token': {
      // a token baton issued has a status list entry, or (an exchange before the list existed) a lineage row
      const tokens = await entriesOf(trx, { jtis: [id] });
      const row = tokens.length ? undefined : await inLineage(trx, id);
      if (!tokens.length && !row) throw new UnknownTarget(`baton issued no token with jti ${id}`);
      return { grants: [], tokens: row ? [row] : tokens };
    }
  }
}

/** In the one transaction: what the target reaches, its status bits, grants, refresh tokens, consents. */
async function planAndApply(stores: RevocationStores, trx: Knex.Transaction, kind: TargetKind, id: string) {
  const found = await roots(stores, trx, kind, id);
  const tokens = await revokeDown(trx, found.tokens);
  const refresh_tokens = await deleteRefreshTokens(trx, found.grants);
  await deleteGrants(trx, found.grants);
  const user = kind === 'user' ? id : undefined;
  const consents = user ? await stores.accounts.revokeConsents(user, undefined, trx) : 0;
  const sessions = user ? await deleteSessions(trx, user) : 0;
  // with Redis, sessions are found through the session index only; ended after the commit (hotStore)
  const sessionUids = user ? (await sessionLogins(trx, { account: user })).map((s) => s.uid) : [];
  const now = Math.floor(Date.now() / 1000);
  const counts = {
    tokens: tokens.filter((t) => t.exp > now).length,
    grants: found.grants.length,
    refresh_tokens,
    consents,
    sessions,
  };
  return { tokens, grants: found.grants, sessionUids, counts } satisfies Plan;
}

/**
 * After the commit: introspection's RevokedToken entries (each until its token's expiry), the grants'
 * authorization codes and opaque access tokens, the user's sessions the index names (hot models: Redis when
 * configured): how many sessions it ended (those held in PostgreSQL are gone already). Each is idempotent.
 */
async function hotStore(stores: RevocationStores, plan: Plan): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  const revoked = stores.adapterFor('RevokedToken');
  const live = plan.tokens.filter((t) => t.exp > now);
  for (const part of slices(live)) {
    await Promise.all(part.map((t) => revoked.upsert(t.jti, { jti: t.jti }, t.exp - now + 60)));
  }
  const models = ['AuthorizationCode', 'AccessToken', 'RefreshToken'].map((m) => stores.adapterFor(m));
  for (const grantId of plan.grants) await Promise.all(models.map((m) => m.revokeByGrantId(grantId)));
  return endSessions(stores.db, stores.adapterFor('Session'), plan.sessionUids);
}

async function twice(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch {
    try {
      await fn();
    } catch (err) {
      throw new RevocationIncomplete(
        `the revocation is recorded in PostgreSQL (status list bits, grants, refresh tokens, consents), but the hot store failed (${(err as Error).message}): introspection may still answer active; run it again`,
      );
    }
  }
}
