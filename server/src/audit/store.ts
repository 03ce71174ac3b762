/**
 * Reading the audit trail: the chain in seq order (verify), search, the tree of a token (trace), export,
 * and the retention (audit_retain in the migration). Every query is by indexed column (migration
 * 20261201000001) except the IdP subject, read from the event itself.
 */
import type { Knex } from 'knex';
import type { ChainedRow } from './chain.ts';
import type { AuditEvent } from './record.ts';

type DbRow = Omit<ChainedRow, 'seq' | 'at' | 'event'> & {
  seq: string | number;
  at: Date | string;
  event: AuditEvent | string;
};

export const rowFromDb = (r: DbRow): ChainedRow => ({
  ...r,
  seq: Number(r.seq),
  at: new Date(r.at).toISOString(),
  event: typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event,
});

/** The whole chain in seq order, a page at a time (keyset pagination: constant memory). */
export async function* readChain(db: Knex, page = 1000): AsyncGenerator<ChainedRow> {
  let after = -1;
  for (;;) {
    const rows = (
      await db('audit_events').where('seq', '>', after).orderBy('seq').limit(page).select<DbRow[]>('*')
    ).map(rowFromDb);
    yield* rows;
    if (rows.length < page) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export interface SearchQuery {
  /** baton's subject (accounts.id), or the person's subject at their IdP */
  account?: string | undefined;
  /** the account `account` names, when it names one (its events are found by this id too) */
  accountId?: string | undefined;
  client?: string | undefined;
  resource?: string | undefined;
  type?: string | undefined;
  outcome?: string | undefined;
  jti?: string | undefined;
  /** a tool (or other MCP method target) an MCP server reported: `details.name` of `tool.called` events */
  tool?: string | undefined;
  /** an agent: the client that asked, or any actor of the chain (RFC 8693 §4.1 `act`, at any depth) */
  agent?: string | undefined;
  /** ISO 8601 bounds: since inclusive, until exclusive */
  since?: string | undefined;
  until?: string | undefined;
  /** rows after this seq (the next page) */
  after?: number | undefined;
  limit: number;
  /** the newest `limit` rows instead, newest first */
  newest?: boolean | undefined;
}

/** every `sub` of the actor chain: `act`, `act.act`, … (RFC 8693 §4.1) */
const ACTOR_PATH = '$.act.** ? (@.sub == $a)';

export async function searchEvents(db: Knex, q: SearchQuery): Promise<ChainedRow[]> {
  const query = db('audit_events')
    .orderBy('seq', q.newest ? 'desc' : 'asc')
    .limit(q.limit);
  if (q.account) {
    const account = q.account;
    const ids = [account, ...(q.accountId ? [q.accountId] : [])];
    query.where((w) => void w.whereIn('account_id', ids).orWhereRaw(`event->'idp'->>'sub' = ?`, [account]));
  }
  for (const [column, value] of [
    ['client_id', q.client],
    ['resource', q.resource],
    ['type', q.type],
    ['outcome', q.outcome],
    ['jti', q.jti],
  ] as const) {
    if (value !== undefined) query.where(column, value);
  }
  if (q.tool !== undefined) query.whereRaw(`event->'details'->>'name' = ?`, [q.tool]);
  if (q.agent !== undefined) {
    const agent = q.agent;
    // the path goes in as a binding: a jsonpath's `?` filter would otherwise read as a knex placeholder
    query.where(
      (w) =>
        void w
          .where('client_id', agent)
          .orWhereRaw(`jsonb_path_exists(event, ?::jsonpath, jsonb_build_object('a', ?::text))`, [ACTOR_PATH, agent]),
    );
  }
  if (q.since) query.where('at', '>=', q.since);
  if (q.until) query.where('at', '<', q.until);
  if (q.after !== undefined) query.where('seq', '>', q.after);
  return (await query.select<DbRow[]>('*')).map(rowFromDb);
}

/**
 * baton's own records of the tokens it issued (`token.issued`, by the partial index audit_events_issued_jti),
 * jti → the event: whom a token was for (account, IdP identity, client, actor chain, grant, resource, parent). The ingestion of
 * reported calls takes the person from here, never from the reporter.
 */
export async function issuedTokens(db: Knex, jtis: readonly string[]): Promise<Map<string, AuditEvent>> {
  if (jtis.length === 0) return new Map();
  const rows = await db('audit_events')
    .whereIn('jti', [...new Set(jtis)])
    .where('type', 'token.issued')
    .orderBy('seq')
    .select<Pick<DbRow, 'jti' | 'event'>[]>('jti', 'event');
  return new Map(
    rows.map((r) => [r.jti!, typeof r.event === 'string' ? (JSON.parse(r.event) as AuditEvent) : r.event]),
  );
}

/**
 * issuedTokens with the records it found remembered (at most `max`, the oldest forgotten first): a record
 * of issuance never changes once written, so a cache of them is always right and safe to lose; a jti not
 * found is asked again next time (its record may be written since). The reported calls of one MCP session
 * all name the same jti: most batches are answered without a query.
 */
export function cachedIssuedTokens(db: Knex, max = 10_000) {
  const known = new Map<string, AuditEvent>();
  return async (jtis: readonly string[]): Promise<Map<string, AuditEvent>> => {
    const found = new Map<string, AuditEvent>();
    const missing: string[] = [];
    for (const jti of jtis) {
      const hit = known.get(jti);
      if (hit) found.set(jti, hit);
      else missing.push(jti);
    }
    if (missing.length === 0) return found;
    for (const [jti, event] of await issuedTokens(db, missing)) {
      if (known.size >= max) known.delete(known.keys().next().value!);
      known.set(jti, event);
      found.set(jti, event);
    }
    return found;
  };
}

/** edges child → parent, from the audit events and from token_lineage (either may hold a hop) */
async function parentsOf(db: Knex, jtis: string[]): Promise<string[]> {
  const rows = await db
    .select('parent_jti')
    .from('audit_events')
    .whereIn('jti', jtis)
    .whereNotNull('parent_jti')
    .union((u) => void u.select('parent_jti').from('token_lineage').whereIn('jti', jtis));
  return (rows as { parent_jti: string }[]).map((r) => r.parent_jti);
}

async function childrenOf(db: Knex, jtis: string[]): Promise<string[]> {
  const rows = await db
    .select('jti')
    .from('audit_events')
    .whereIn('parent_jti', jtis)
    .whereNotNull('jti')
    .union((u) => void u.select('jti').from('token_lineage').whereIn('parent_jti', jtis));
  return (rows as { jti: string }[]).map((r) => r.jti);
}

/** Follows edges from `start` until nothing new (bounded: a chain is at most a few hops; 10,000 tokens). */
async function closure(start: string[], next: (jtis: string[]) => Promise<string[]>, seen: Set<string>) {
  let frontier = start;
  while (frontier.length > 0 && seen.size < 10_000) {
    const found = [...new Set(await next(frontier))].filter((j) => !seen.has(j));
    for (const j of found) seen.add(j);
    frontier = found;
  }
}

export interface Trace {
  /** the tokens of the tree: jti → parent jti (null at the root) */
  tokens: { jti: string; parent_jti: string | null; depth: number }[];
  /**
   * every event naming one of them (as the token, or as the parent of one), and the events of their grants
   * that name no token (sign-in, consent), in seq order
   */
  events: ChainedRow[];
}

/**
 * The sign-ins that started these grants: a grant's record (`consent.given`) carries the `auth_time` of the
 * session it was made in, and the `login.success` of that account records the same time (OIDC Core §2);
 * of those (auth_time is in seconds), the last one before the grant.
 */
async function signInsOf(db: Knex, grantEvents: readonly ChainedRow[]): Promise<ChainedRow[]> {
  const found = await Promise.all(
    grantEvents.slice(0, 20).map(async (e) => {
      const t = (e.event.details as { auth_time?: unknown } | undefined)?.auth_time;
      if (e.type !== 'consent.given' || !e.account_id || typeof t !== 'number') return undefined;
      return db('audit_events')
        .where({ type: 'login.success', account_id: e.account_id })
        .where('seq', '<', e.seq)
        .whereRaw(`event->'details'->>'auth_time' = ?`, [String(t)])
        .orderBy('seq', 'desc')
        .first<DbRow | undefined>('*');
    }),
  );
  const rows = found.filter((r): r is DbRow => r !== undefined).map(rowFromDb);
  return [...new Map(rows.map((r) => [r.seq, r])).values()];
}

/** The tree `jti` belongs to: its ancestors by parent_jti, their descendants, their events and grants'. */
export async function traceToken(db: Knex, jti: string): Promise<Trace> {
  const ancestors = new Set([jti]);
  await closure([jti], (j) => parentsOf(db, j), ancestors);
  const tree = new Set(ancestors);
  await closure([...ancestors], (j) => childrenOf(db, j), tree);
  const jtis = [...tree];
  const events = (
    await db('audit_events')
      .where((w) => void w.whereIn('jti', jtis).orWhereIn('parent_jti', jtis))
      .orderBy('seq')
      .limit(10_000)
      .select<DbRow[]>('*')
  ).map(rowFromDb);
  // the events of the tree's grants that name no token: the sign-in and consent that started it
  const gids = [...new Set(events.map((e) => e.grant_id).filter((g): g is string => g !== null))];
  if (gids.length > 0) {
    const grantEvents = await db('audit_events')
      .whereIn('grant_id', gids)
      .whereNull('jti')
      .whereNull('parent_jti')
      .orderBy('seq')
      .limit(1000)
      .select<DbRow[]>('*');
    events.push(...grantEvents.map(rowFromDb), ...(await signInsOf(db, grantEvents.map(rowFromDb))));
    events.sort((a, b) => a.seq - b.seq);
  }
  const parent = new Map<string, string | null>(jtis.map((j) => [j, null]));
  for (const e of events) if (e.jti && e.parent_jti && tree.has(e.parent_jti)) parent.set(e.jti, e.parent_jti);
  const lineage = await db('token_lineage')
    .whereIn('jti', jtis)
    .select<{ jti: string; parent_jti: string }[]>('jti', 'parent_jti');
  for (const l of lineage) if (tree.has(l.parent_jti)) parent.set(l.jti, l.parent_jti);
  const depth = (j: string, n = 0): number => {
    const p = parent.get(j);
    return p && n < 64 ? depth(p, n + 1) : n;
  };
  const tokens = jtis.map((j) => ({ jti: j, parent_jti: parent.get(j) ?? null, depth: depth(j) }));
  tokens.sort((a, b) => a.depth - b.depth || a.jti.localeCompare(b.jti));
  return { tokens, events };
}

/** Retention: deletes rows older than `days`, from the old end, up to a checkpoint (audit_retain). */
export async function retainAudit(db: Knex, days: number): Promise<number> {
  const { rows } = await db.raw<{ rows: { deleted: string | number }[] }>(
    'select audit_retain(now() - make_interval(days => ?)) as deleted',
    [days],
  );
  return Number(rows[0]?.deleted ?? 0);
}
