/**
 * `baton clients list` / `GET /admin/api/clients` and `baton clients show ID` / `GET /admin/api/clients/{client}`:
 * the static clients of the policy in force and the registered ones (RFC 7591 registrations, oidc-provider
 * `Client` records), each with its redirect hosts, grant types, how it was registered, whether it is blocked
 * and by what (`clients.blocked` in the configuration, or an administrator: client_blocks, who, when, why)
 * and its counts of live grants and live access tokens. Never a secret: a client's
 * metadata is read field by field, its secret (sealed or not) never. Reads: recorded as every operation is.
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import { hostsOf } from '../provider/client-registry/audit.ts';
import { staticMetadata } from '../provider/client-registry/static-clients.ts';
import { clientBlocks, type ClientBlock } from '../revocation/client-blocks.ts';
import { AdminError } from './errors.ts';
import { holdingLines, holdingsOf, PageArgs, type Holdings } from './account-operations.ts';
import type { Policy } from '../policy/policy.ts';
import { operation, policyOf } from './operation.ts';

export const MAX_CLIENTS = 100;

export interface ClientSummary {
  client_id: string;
  name: string | null;
  registration: 'static' | 'dcr';
  /** static clients: agent, mcp_server, service, app; a registered one: null */
  kind: string | null;
  auth: string | null;
  redirect_hosts: string[];
  grant_types: string[];
  blocked: boolean;
  /** what blocks it: the configuration (`clients.blocked`, first when both do), or an administrator */
  blocked_by: BlockedBy | null;
  /** a registration's expiry while unused (renewed as it is used); a static client: null */
  expires_at: string | null;
  live_grants: number;
  live_tokens: number;
}

export type BlockedBy =
  | { source: 'configuration' }
  | ({ source: 'admin' } & Pick<
      ClientBlock,
      'blocked_at' | 'blocked_by_client' | 'blocked_by_account' | 'via' | 'reason'
    >);

export interface ClientList {
  static: ClientSummary[];
  registered: ClientSummary[];
  next_after: string | null;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s) => typeof s === 'string') : []);
const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** live grants and live (unexpired, VALID: draft-ietf-oauth-status-list-20 §7.1) access tokens per client */
async function counts(db: Knex, ids: string[]): Promise<Map<string, { grants: number; tokens: number }>> {
  const out = new Map(ids.map((id) => [id, { grants: 0, tokens: 0 }]));
  if (ids.length === 0) return out;
  const grants = await db('oidc_payloads')
    .where({ model: 'Grant' })
    .whereRaw(`payload->>'clientId' in (${ids.map(() => '?').join(', ')})`, ids)
    .whereRaw('(expires_at is null or expires_at > now())')
    .groupByRaw(`payload->>'clientId'`)
    .select<{ id: string; n: string | number }[]>(db.raw(`payload->>'clientId' as id`), db.raw('count(*) as n'));
  const tokens = await db('status_list_entries')
    .whereIn('client_id', ids)
    .where({ status: 0 })
    .where('expires_at', '>', db.fn.now())
    .groupBy('client_id')
    .select<{ id: string; n: string | number }[]>('client_id as id', db.raw('count(*) as n'));
  for (const g of grants) out.get(g.id)!.grants = Number(g.n);
  for (const t of tokens) out.get(t.id)!.tokens = Number(t.n);
  return out;
}

type Counted = Omit<ClientSummary, 'live_grants' | 'live_tokens' | 'blocked_by'>;

function staticSummary(policy: Policy, id: string): Counted | undefined {
  const c = policy.staticClients.get(id);
  const m = staticMetadata(policy, id);
  if (!c || !m) return undefined;
  return {
    client_id: id,
    name: c.name ?? null,
    registration: 'static',
    kind: c.kind,
    auth: text(m.token_endpoint_auth_method),
    redirect_hosts: hostsOf(c.redirect_uris),
    grant_types: strings(m.grant_types),
    blocked: policy.blocked.has(id),
    expires_at: null,
  };
}

interface ClientRow {
  id: string;
  name: string | null;
  auth: string | null;
  redirect_uris: unknown;
  grant_types: unknown;
  expires_at: Date | string | null;
}

/** registered clients, their metadata read field by field (the payload holds the sealed secret) */
async function registered(db: Knex, limit: number, where: { after?: string; id?: string }): Promise<ClientRow[]> {
  const q = db('oidc_payloads')
    .where({ model: 'Client' })
    .whereRaw('(expires_at is null or expires_at > now())')
    .orderBy('id')
    .limit(limit)
    .select<ClientRow[]>(
      'id',
      db.raw(`payload->>'client_name' as name`),
      db.raw(`payload->>'token_endpoint_auth_method' as auth`),
      db.raw(`payload->'redirect_uris' as redirect_uris`),
      db.raw(`payload->'grant_types' as grant_types`),
      'expires_at',
    );
  if (where.after !== undefined) void q.where('id', '>', where.after);
  if (where.id !== undefined) void q.where('id', where.id);
  return q;
}

const json = (v: unknown): unknown => (typeof v === 'string' ? (JSON.parse(v) as unknown) : v);

const registeredSummary = (policy: Policy, r: ClientRow): Counted => ({
  client_id: r.id,
  name: r.name,
  registration: 'dcr',
  kind: null,
  auth: r.auth,
  redirect_hosts: hostsOf(json(r.redirect_uris)),
  // RFC 7591 §2: grant_types defaults to authorization_code
  grant_types: r.grant_types === null ? ['authorization_code'] : strings(json(r.grant_types)),
  blocked: policy.blocked.has(r.id),
  expires_at: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
});

function blockedBy(policy: Policy, block: ClientBlock | undefined, id: string): BlockedBy | null {
  if (policy.blocked.has(id)) return { source: 'configuration' };
  if (!block) return null;
  const { client_id: _id, ...rest } = block;
  return { source: 'admin', ...rest };
}

/** The counts of live grants and tokens, and the runtime blocks (read from the table: every process's truth). */
async function withCounts(db: Knex, policy: Policy, clients: Counted[]): Promise<ClientSummary[]> {
  const ids = clients.map((c) => c.client_id);
  const n = await counts(db, ids);
  const blocks = await clientBlocks(db, ids);
  return clients.map((c) => {
    const by = blockedBy(policy, blocks.get(c.client_id), c.client_id);
    return {
      ...c,
      blocked: by !== null,
      blocked_by: by,
      live_grants: n.get(c.client_id)!.grants,
      live_tokens: n.get(c.client_id)!.tokens,
    };
  });
}

const blockedText = (b: BlockedBy) =>
  b.source === 'configuration'
    ? 'configuration'
    : `admin${b.blocked_by_account ? ` ${b.blocked_by_account}` : ''}${b.blocked_by_client ? ` via ${b.blocked_by_client}` : ` (${b.via})`} at ${b.blocked_at}`;

const line = (c: ClientSummary) =>
  `${c.client_id}  ${c.registration}${c.kind ? ` ${c.kind}` : ''}${c.name ? `  "${c.name}"` : ''}  ` +
  `[${c.grant_types.join(' ')}]  redirect hosts [${c.redirect_hosts.join(' ')}]  ` +
  `${c.live_grants} grants, ${c.live_tokens} tokens${c.blocked_by ? `  BLOCKED (${blockedText(c.blocked_by)})` : ''}\n`;

const cursor = z.string().min(1).max(1024);

export const CLIENT_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'clients.list',
    operation({
      args: z.strictObject({
        limit: z
          .number()
          .int()
          .min(1, `limit is 1–${MAX_CLIENTS}`)
          .max(MAX_CLIENTS, `limit is 1–${MAX_CLIENTS}`)
          .optional(),
        after: cursor.optional(),
      }),
      async run(stores, { limit = MAX_CLIENTS, after }): Promise<ClientList> {
        const policy = policyOf(stores);
        // the static clients on the first page only: the pages go through the registered ones
        const fixed =
          after === undefined ? [...policy.staticClients.keys()].map((id) => staticSummary(policy, id)!) : [];
        const rows = await registered(stores.db, limit + 1, { ...(after !== undefined ? { after } : {}) });
        const page = rows.slice(0, limit);
        return {
          static: await withCounts(stores.db, policy, fixed),
          registered: await withCounts(
            stores.db,
            policy,
            page.map((r) => registeredSummary(policy, r)),
          ),
          next_after: rows.length > limit ? page.at(-1)!.id : null,
        };
      },
      print: (l) =>
        [...l.static, ...l.registered].map(line).join('') + (l.next_after ? `(more: --after ${l.next_after})\n` : ''),
    }),
  ],
  [
    'clients.show',
    operation({
      args: z.strictObject({ client: z.string().min(1).max(1024) }),
      async run(stores, { client }): Promise<ClientSummary> {
        const policy = policyOf(stores);
        const [row] = staticSummary(policy, client) ? [] : await registered(stores.db, 1, { id: client });
        const found = staticSummary(policy, client) ?? (row ? registeredSummary(policy, row) : undefined);
        if (!found) throw new AdminError('not_found', `no client ${client.slice(0, 200)} (see baton clients list)`);
        return (await withCounts(stores.db, policy, [found]))[0]!;
      },
      print: line,
    }),
  ],
  [
    'clients.tokens',
    operation({
      // `baton clients tokens ID` / `GET /admin/api/clients/{client}/tokens`: its live grants and tokens
      args: z.strictObject({ client: z.string().min(1).max(1024), ...PageArgs }),
      async run(stores, { client, ...page }): Promise<Holdings> {
        const policy = policyOf(stores);
        // a configured or registered client; a CIMD client (a URL) is known by the tokens it was issued
        const known =
          staticSummary(policy, client) !== undefined ||
          (await registered(stores.db, 1, { id: client })).length > 0 ||
          (await stores.db('status_list_entries').where({ client_id: client }).first('jti')) !== undefined;
        if (!known) throw new AdminError('not_found', `no client ${client.slice(0, 200)} (see baton clients list)`);
        return holdingsOf(stores.db, { client }, page);
      },
      print: (h: Holdings) => `${holdingLines(h).join('\n')}\n`,
    }),
  ],
];
