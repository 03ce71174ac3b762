/**
 * The people's grants at brokered upstreams (migration 20261202000002 `upstream_grants`): for one (baton
 * account, gateway), the upstream refresh token and current access token, sealed under the KEK (never stored
 * or logged in the clear), when the access token expires, the granted scope and the person's subject there.
 * `refreshing` runs a refresh with the row locked (SELECT … FOR UPDATE in one transaction): a second process
 * that wants the same grant waits, then finds the new tokens (a rotating refresh token is spent once).
 */
import type { Knex } from 'knex';
import type { Kek } from '../keys/kek.ts';

export interface UpstreamGrant {
  account: string;
  gateway: string;
  refreshToken?: string;
  accessToken?: string;
  /** ms since the epoch */
  accessExpiresAt?: number;
  scope: string;
  upstreamSub?: string;
  createdAt: Date;
  /** when the tokens were last stored (ms since the epoch): the access token's start */
  updatedAt: number;
}

/** what a listing shows: never a token */
export interface GrantListing {
  gateway: string;
  scope: string;
  upstreamSub?: string;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  account_id: string;
  gateway_id: string;
  refresh_jwe: string | null;
  access_jwe: string | null;
  access_expires_at: Date | string | null;
  scope: string;
  upstream_sub: string | null;
  kek_id: string;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface NewTokens {
  accessToken: string;
  /** seconds */
  expiresIn?: number;
  /** a new refresh token (RFC 6749 §6: the authorization server may issue one; absent: keep the old one) */
  refreshToken?: string;
  scope?: string;
  upstreamSub?: string;
}

export class GrantStore {
  readonly #db: Knex;
  readonly #kek: Kek;

  constructor(db: Knex, kek: Kek) {
    this.#db = db;
    this.#kek = kek;
  }

  async #open(row: Row): Promise<UpstreamGrant> {
    return {
      account: row.account_id,
      gateway: row.gateway_id,
      ...(row.refresh_jwe ? { refreshToken: await this.#kek.decrypt(row.refresh_jwe) } : {}),
      ...(row.access_jwe ? { accessToken: await this.#kek.decrypt(row.access_jwe) } : {}),
      ...(row.access_expires_at ? { accessExpiresAt: new Date(row.access_expires_at).getTime() } : {}),
      scope: row.scope,
      ...(row.upstream_sub ? { upstreamSub: row.upstream_sub } : {}),
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at).getTime(),
    };
  }

  async #sealed(tokens: NewTokens, now: number) {
    return {
      access_jwe: await this.#kek.encrypt(tokens.accessToken),
      access_expires_at: tokens.expiresIn === undefined ? null : new Date(now + tokens.expiresIn * 1000),
      ...(tokens.refreshToken !== undefined ? { refresh_jwe: await this.#kek.encrypt(tokens.refreshToken) } : {}),
      ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
      ...(tokens.upstreamSub !== undefined ? { upstream_sub: tokens.upstreamSub } : {}),
      kek_id: this.#kek.id,
      updated_at: new Date(now),
    };
  }

  async get(account: string, gateway: string): Promise<UpstreamGrant | undefined> {
    const row = await this.#db<Row>('upstream_grants').where({ account_id: account, gateway_id: gateway }).first();
    return row ? this.#open(row) : undefined;
  }

  /** A new grant (a person connected, or connected again): replaces what was there. */
  async put(account: string, gateway: string, tokens: NewTokens): Promise<void> {
    const now = Date.now();
    const sealed = await this.#sealed(tokens, now);
    await this.#db('upstream_grants')
      .insert({ account_id: account, gateway_id: gateway, scope: '', created_at: new Date(now), ...sealed })
      .onConflict(['account_id', 'gateway_id'])
      .merge({ ...sealed, created_at: new Date(now), refresh_jwe: sealed.refresh_jwe ?? null });
  }

  /**
   * Refreshes under the row's lock: `fn` gets the grant as it is now (another process may have refreshed
   * it meanwhile: `fn` then returns undefined to keep it) and returns the new tokens, or 'remove' when the
   * upstream refused the refresh. Resolves to the grant after it (undefined: none, or removed).
   */
  async refreshing(
    account: string,
    gateway: string,
    fn: (current: UpstreamGrant) => Promise<NewTokens | 'remove' | undefined>,
  ): Promise<UpstreamGrant | undefined> {
    return this.#db.transaction(async (trx) => {
      const row = await trx<Row>('upstream_grants')
        .where({ account_id: account, gateway_id: gateway })
        .forUpdate()
        .first();
      if (!row) return undefined;
      const current = await this.#open(row);
      const next = await fn(current);
      if (next === 'remove') {
        await trx('upstream_grants').where({ account_id: account, gateway_id: gateway }).delete();
        return undefined;
      }
      if (!next) return current;
      const now = Date.now();
      const sealed = await this.#sealed(next, now);
      await trx('upstream_grants').where({ account_id: account, gateway_id: gateway }).update(sealed);
      return this.#open({ ...row, ...sealed, refresh_jwe: sealed.refresh_jwe ?? row.refresh_jwe });
    });
  }

  /** Removes one grant (or every grant of the account); resolves to the removed ones (their refresh tokens, to revoke). */
  async remove(account: string, gateway?: string): Promise<UpstreamGrant[]> {
    const where = gateway === undefined ? { account_id: account } : { account_id: account, gateway_id: gateway };
    const rows = await this.#db<Row>('upstream_grants').where(where).delete().returning('*');
    return Promise.all(rows.map((r) => this.#open(r)));
  }

  async list(account: string): Promise<GrantListing[]> {
    const rows = await this.#db<Row>('upstream_grants').where({ account_id: account }).orderBy('gateway_id');
    return rows.map((r) => ({
      gateway: r.gateway_id,
      scope: r.scope,
      ...(r.upstream_sub ? { upstreamSub: r.upstream_sub } : {}),
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }
}
