/**
 * Accounts and consents in PostgreSQL. An account is baton's stable subject for one (IdP issuer, IdP
 * subject): `u_` + the first 24 base64url characters of sha256(issuer NUL subject), the same on every
 * process and across restarts. The last profile, groups and roles seen are kept; the upstream refresh
 * token is kept encrypted under the KEK.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Kek } from '../keys/kek.ts';
import { affectedRows } from '../storage/affected-rows.ts';

export interface Account {
  id: string;
  idpId: string | null;
  idpIssuer: string;
  idpSubject: string;
  /** the `sub` of the last sign-in's ID token (migrations/20261201000040): idpSubject unless subject_claim says another claim */
  upstreamSub: string | null;
  profile: Record<string, unknown>;
  groups: string[];
  roles: string[];
  disabled: boolean;
  hasUpstreamToken: boolean;
}

interface Row {
  id: string;
  idp_id: string | null;
  idp_issuer: string;
  idp_subject: string;
  upstream_sub: string | null;
  profile: Record<string, unknown> | string;
  groups: string[] | string;
  roles: string[] | string;
  disabled_at: Date | string | null;
  upstream_jwe: string | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

function toAccount(row: Row): Account {
  return {
    id: row.id,
    idpId: row.idp_id,
    idpIssuer: row.idp_issuer,
    idpSubject: row.idp_subject,
    upstreamSub: row.upstream_sub,
    profile: json(row.profile),
    groups: json(row.groups),
    roles: json(row.roles),
    disabled: row.disabled_at !== null,
    hasUpstreamToken: row.upstream_jwe !== null,
  };
}

export function accountIdFor(issuer: string, subject: string): string {
  return `u_${createHash('sha256').update(`${issuer}\0${subject}`).digest('base64url').slice(0, 24)}`;
}

/**
 * The accounts of one IdP whose last sign-in's ID token had this `sub` (index accounts_idp_upstream_sub):
 * how a logout token or an `iss_sub` naming the person by `sub` finds an account keyed by another claim
 * (`identity_providers[].subject_claim`).
 */
export async function accountsByUpstreamSub(db: Knex, idpIssuer: string, sub: string): Promise<Account[]> {
  const rows = await db('accounts')
    .where({ idp_issuer: idpIssuer, upstream_sub: sub })
    .orderBy('created_at')
    .select<Row[]>('*');
  return rows.map(toAccount);
}

export interface LoginRecord {
  idpId: string;
  idpIssuer: string;
  /** the value of the IdP's subject_claim in the ID token (its `sub` by default) */
  idpSubject: string;
  /** the ID token's `sub` (an OIDC IdP's sign-in; none for the local directory) */
  upstreamSub?: string;
  profile: Record<string, unknown>;
  groups: string[];
  roles: string[];
  /** the IdP's refresh token, when it issued one */
  upstreamRefreshToken?: string;
}

/** An account created ahead of its first sign-in (`baton accounts add`/`import`, or a development config). */
export interface Provision {
  idpId: string;
  idpIssuer: string;
  subject: string;
  groups: string[];
  /** the roles those groups map to now (shown by `accounts list`; redemption maps the groups again) */
  roles: string[];
  email?: string;
  name?: string;
}

export class AccountStore {
  readonly #db: Knex;
  readonly #kek: Kek;

  constructor(db: Knex, kek: Kek) {
    this.#db = db;
    this.#kek = kek;
  }

  /** Records a sign-in: creates the account or refreshes its profile, groups and roles. */
  async recordLogin(login: LoginRecord): Promise<Account> {
    const id = accountIdFor(login.idpIssuer, login.idpSubject);
    const upstream = login.upstreamRefreshToken ? await this.#kek.encrypt(login.upstreamRefreshToken) : null;
    const fields = {
      idp_id: login.idpId,
      upstream_sub: login.upstreamSub ?? null,
      profile: JSON.stringify(login.profile),
      groups: JSON.stringify(login.groups),
      roles: JSON.stringify(login.roles),
      upstream_jwe: upstream,
      last_login_at: this.#db.fn.now(),
      updated_at: this.#db.fn.now(),
    };
    const [row] = await this.#db('accounts')
      .insert({ id, idp_issuer: login.idpIssuer, idp_subject: login.idpSubject, ...fields })
      .onConflict(['idp_issuer', 'idp_subject'])
      .merge(Object.keys(fields))
      .returning<Row[]>('*');
    return toAccount(row!);
  }

  /**
   * Creates the account of (IdP, subject), or updates an existing one's groups (and email and name, when
   * given), with no sign-in recorded: an ID-JAG for this person can then be redeemed before they ever signed
   * in interactively. Leaves a disabled account disabled, and keeps its upstream refresh token. `trx` lets
   * an import provision many accounts all-or-nothing.
   */
  async provision(p: Provision, trx: Knex = this.#db): Promise<Account> {
    const id = accountIdFor(p.idpIssuer, p.subject);
    const profile = JSON.stringify({ ...(p.email ? { email: p.email } : {}), ...(p.name ? { name: p.name } : {}) });
    const [row] = await trx('accounts')
      .insert({
        id,
        idp_id: p.idpId,
        idp_issuer: p.idpIssuer,
        idp_subject: p.subject,
        profile,
        groups: JSON.stringify(p.groups),
        roles: JSON.stringify(p.roles),
      })
      .onConflict(['idp_issuer', 'idp_subject'])
      .merge({
        idp_id: p.idpId,
        profile: trx.raw('accounts.profile || excluded.profile'),
        groups: trx.raw('excluded.groups'),
        roles: trx.raw('excluded.roles'),
        updated_at: trx.fn.now(),
      })
      .returning<Row[]>('*');
    return toAccount(row!);
  }

  /** Runs fn in one transaction (e.g. an all-or-nothing import). */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.#db.transaction(fn);
  }

  async list(): Promise<Account[]> {
    const rows = await this.#db('accounts').select<Row[]>('*').orderBy('created_at');
    return rows.map(toAccount);
  }

  async find(id: string): Promise<Account | undefined> {
    const row = await this.#db('accounts').where({ id }).first<Row | undefined>();
    return row ? toAccount(row) : undefined;
  }

  async findByUsername(idpIssuer: string, subject: string): Promise<Account | undefined> {
    return this.find(accountIdFor(idpIssuer, subject));
  }

  /** accountsByUpstreamSub, in this store's database */
  async findByUpstreamSub(idpIssuer: string, sub: string): Promise<Account[]> {
    return accountsByUpstreamSub(this.#db, idpIssuer, sub);
  }

  /**
   * The accounts of one IdP whose last profile email is `email`, compared case-insensitively (index
   * accounts_idp_email): none, one, or (an IdP that lets two of its users share an address) several.
   */
  async findByEmail(idpIssuer: string, email: string): Promise<Account[]> {
    const rows = await this.#db('accounts')
      .where({ idp_issuer: idpIssuer })
      .andWhereRaw(`lower(profile->>'email') = lower(?)`, [email])
      .orderBy('created_at')
      .select<Row[]>('*');
    return rows.map(toAccount);
  }

  async upstreamRefreshToken(id: string, trx: Knex = this.#db): Promise<string | undefined> {
    const row = await trx('accounts').where({ id }).first<{ upstream_jwe: string | null } | undefined>('upstream_jwe');
    return row?.upstream_jwe ? this.#kek.decrypt(row.upstream_jwe) : undefined;
  }

  /** Groups re-read from the IdP (at a refresh); a rotated upstream refresh token replaces the old one. */
  async updateGroups(
    id: string,
    update: { groups: string[]; roles: string[]; upstreamRefreshToken?: string },
    trx: Knex = this.#db,
  ): Promise<void> {
    await trx('accounts')
      .where({ id })
      .update({
        groups: JSON.stringify(update.groups),
        roles: JSON.stringify(update.roles),
        ...(update.upstreamRefreshToken ? { upstream_jwe: await this.#kek.encrypt(update.upstreamRefreshToken) } : {}),
        updated_at: trx.fn.now(),
      });
  }

  /** Runs fn holding a per-account lock (serializes upstream refreshes of one account across processes). */
  async withAccountLock<T>(id: string, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.#db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`baton:account:${id}`]);
      return fn(trx);
    });
  }

  /** `db`: the caller's transaction, when the change goes with others (admin/operations.ts) */
  async setDisabled(id: string, disabled: boolean, db: Knex | Knex.Transaction = this.#db): Promise<boolean> {
    const n = await db('accounts')
      .where({ id })
      .update({ disabled_at: disabled ? this.#db.fn.now() : null, updated_at: this.#db.fn.now() });
    return affectedRows(n) === 1;
  }

  async consentedScopes(accountId: string, clientId: string, resource: string): Promise<string[]> {
    const row = await this.#db('consents')
      .where({ account_id: accountId, client_id: clientId, resource })
      .first<{ scopes: string[] | string } | undefined>('scopes');
    return row ? json(row.scopes) : [];
  }

  /** Remembers a consent; a later consent for the same (account, client, resource) adds to it. */
  async saveConsent(accountId: string, clientId: string, resource: string, scopes: string[]): Promise<void> {
    const merged = [...new Set([...(await this.consentedScopes(accountId, clientId, resource)), ...scopes])].sort();
    await this.#db('consents')
      .insert({ account_id: accountId, client_id: clientId, resource, scopes: JSON.stringify(merged) })
      .onConflict(['account_id', 'client_id', 'resource'])
      .merge({ scopes: JSON.stringify(merged), updated_at: this.#db.fn.now() });
  }

  /** Revokes remembered consents of an account (for one client, or all); returns how many. */
  async revokeConsents(accountId: string, clientId?: string, db: Knex | Knex.Transaction = this.#db): Promise<number> {
    const q = db('consents').where({ account_id: accountId });
    if (clientId) void q.andWhere({ client_id: clientId });
    return affectedRows(await q.delete());
  }
}
