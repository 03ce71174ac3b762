/**
 * `baton accounts show ACCOUNT` / `GET /admin/api/accounts/{account}`: one account (named as `baton revoke
 * user` names it: resolve-account.ts), with its live grants (oidc-provider `Grant` records) and its live
 * JWT access tokens (their Token Status List entries, draft-ietf-oauth-status-list-20 §7.1), each list
 * capped (`limit`, 1–100) and paged by a cursor (the last grant id / jti received). Ids only: never a token,
 * a secret or a profile. A read: recorded as every operation is, never changing anything.
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import { AdminError } from './errors.ts';
import { operation } from './operation.ts';
import { resolveAccount } from './resolve-account.ts';

/** a page of either list at most (and its default) */
export const MAX_PAGE = 100;

/** a cursor is a grant id or a jti that baton issued: base64url-ish, bounded */
const cursor = z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'a cursor is the last id received (base64url)');

export interface AccountGrant {
  id: string;
  client: string | null;
  /** in a client's list (clients tokens): whose grant it is */
  account?: string | null;
  expires_at: string | null;
}

export interface AccountToken {
  jti: string;
  client: string | null;
  /** in a client's list (clients tokens): whose token it is (null: the client's own, client_credentials) */
  account?: string | null;
  grant: string | null;
  expires_at: string;
  /** §7.1: 0x00 VALID, 0x01 INVALID (revoked); another value is shown by its number */
  status: string;
}

export interface AccountShow {
  account: {
    id: string;
    idp: string | null;
    subject: string;
    groups: string[];
    roles: string[];
    created_at: string;
    last_sign_in: string | null;
    disabled: boolean;
  };
  grants: AccountGrant[];
  next_grants_after: string | null;
  tokens: AccountToken[];
  next_tokens_after: string | null;
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());
const STATUS: Record<number, string> = { 0: 'valid', 1: 'revoked' };

/** whose grants and tokens: an account's (accounts show) or a client's (clients tokens) */
export type Holder = { account: string } | { client: string };

async function grantsOf(db: Knex, holder: Holder, limit: number, after?: string) {
  const byClient = 'client' in holder;
  // the member spelled out (not bound): the query may use an index on that expression
  const q = db('oidc_payloads')
    .where({ model: 'Grant' })
    .whereRaw(byClient ? `payload->>'clientId' = ?` : `payload->>'accountId' = ?`, [
      byClient ? holder.client : holder.account,
    ])
    .whereRaw('(expires_at is null or expires_at > now())')
    .orderBy('id')
    .limit(limit + 1)
    .select<{ id: string; client: string | null; account: string | null; expires_at: Date | null }[]>(
      'id',
      db.raw(`payload->>'clientId' as client`),
      db.raw(`payload->>'accountId' as account`),
      'expires_at',
    );
  const rows = await (after === undefined ? q : q.where('id', '>', after));
  // a client's list names each grant's account; an account's, each grant's client
  return rows.map((r) => ({
    id: r.id,
    client: r.client,
    ...(byClient ? { account: r.account } : {}),
    expires_at: iso(r.expires_at),
  }));
}

async function tokensOf(db: Knex, holder: Holder, limit: number, after?: string) {
  const q = db('status_list_entries')
    .where('account' in holder ? { account_id: holder.account } : { client_id: holder.client })
    .where('expires_at', '>', db.fn.now())
    .orderBy('jti')
    .limit(limit + 1)
    .select<
      {
        jti: string;
        client_id: string | null;
        account_id: string | null;
        grant_id: string | null;
        expires_at: Date;
        status: number;
      }[]
    >('jti', 'client_id', 'account_id', 'grant_id', 'expires_at', 'status');
  const rows = await (after === undefined ? q : q.where('jti', '>', after));
  return rows.map((r) => ({
    jti: r.jti,
    client: r.client_id,
    ...('client' in holder ? { account: r.account_id } : {}),
    grant: r.grant_id,
    expires_at: iso(r.expires_at)!,
    status: STATUS[r.status] ?? `status ${r.status}`,
  }));
}

/** A page of at most `limit` rows, and the cursor for the next one (null on the last page). */
function page<T>(rows: T[], limit: number, key: (r: T) => string): [T[], string | null] {
  const shown = rows.slice(0, limit);
  return [shown, rows.length > limit ? key(shown.at(-1)!) : null];
}

export type Holdings = Omit<AccountShow, 'account'>;

/** A holder's live grants and live access tokens, a page of each (`limit`, the cursors). */
export async function holdingsOf(
  db: Knex,
  holder: Holder,
  args: { limit?: number | undefined; grants_after?: string | undefined; tokens_after?: string | undefined },
): Promise<Holdings> {
  const limit = args.limit ?? MAX_PAGE;
  const [grants, next_grants_after] = page(await grantsOf(db, holder, limit, args.grants_after), limit, (g) => g.id);
  const [tokens, next_tokens_after] = page(await tokensOf(db, holder, limit, args.tokens_after), limit, (t) => t.jti);
  return { grants, next_grants_after, tokens, next_tokens_after };
}

/** the page arguments of a holder's lists */
export const PageArgs = {
  limit: z.number().int().min(1, `limit is 1–${MAX_PAGE}`).max(MAX_PAGE, `limit is 1–${MAX_PAGE}`).optional(),
  grants_after: cursor.optional(),
  tokens_after: cursor.optional(),
};

interface AccountRow {
  created_at: Date | string;
  last_login_at: Date | string | null;
}

function printShow(s: AccountShow): string {
  const a = s.account;
  const lines = [
    `${a.id} (${a.idp ?? '-'}:${a.subject})${a.disabled ? '  DISABLED' : ''}`,
    `  groups [${a.groups.join(', ')}]  roles [${a.roles.join(', ')}]`,
    `  created ${a.created_at}  ${a.last_sign_in ? `last sign-in ${a.last_sign_in}` : 'never signed in'}`,
    ...holdingLines(s),
  ];
  return `${lines.join('\n')}\n`;
}

/** The lines of a holder's grants and tokens, with the cursors of their next pages. */
export function holdingLines(s: Holdings): string[] {
  const whose = (x: { client: string | null; account?: string | null }) =>
    x.account !== undefined ? `account ${x.account ?? '-'}` : `client ${x.client ?? '-'}`;
  return [
    `grants (${s.grants.length}${s.next_grants_after ? `, more: --grants-after ${s.next_grants_after}` : ''})`,
    ...s.grants.map((g) => `  ${g.id}  ${whose(g)}  expires ${g.expires_at ?? 'never'}`),
    `access tokens (${s.tokens.length}${s.next_tokens_after ? `, more: --tokens-after ${s.next_tokens_after}` : ''})`,
    ...s.tokens.map((t) => `  ${t.jti}  ${whose(t)}  grant ${t.grant ?? '-'}  expires ${t.expires_at}  ${t.status}`),
  ];
}

export const ACCOUNT_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'accounts.show',
    operation({
      args: z.strictObject({ account: z.string().min(1).max(1024), ...PageArgs }),
      async run({ db, accounts }, args): Promise<AccountShow> {
        const found = await resolveAccount(db, accounts, args.account);
        const row = await db('accounts')
          .where({ id: found.id })
          .first<AccountRow | undefined>('created_at', 'last_login_at');
        if (!row) throw new AdminError('not_found', `no account matches "${args.account}"`);
        const account = {
          id: found.id,
          idp: found.idpId,
          subject: found.idpSubject,
          groups: found.groups,
          roles: found.roles,
          created_at: iso(row.created_at)!,
          last_sign_in: iso(row.last_login_at),
          disabled: found.disabled,
        };
        return { account, ...(await holdingsOf(db, { account: found.id }, args)) };
      },
      print: printShow,
    }),
  ],
];
