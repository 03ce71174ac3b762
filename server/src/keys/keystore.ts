/**
 * Signing keys in PostgreSQL, shared by every process, rotated in stages with no downtime:
 *
 *   publish   a new key enters the JWKS but does not sign (relying parties and peer processes learn it)
 *   activate  the published key signs; the previous active key moves to `retiring` (still in the JWKS,
 *             so tokens it signed keep verifying until they expire)
 *   retire    a retiring key leaves the JWKS and its private half is erased
 *
 * Each process polls the table (keys.refresh_interval_seconds) and rebuilds its provider when the set
 * changes. Only public keys are ever served (oidc-provider derives /jwks from the private keys).
 */
import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import type { Knex } from 'knex';
import type { Kek } from './kek.ts';

export type KeyState = 'published' | 'active' | 'retiring' | 'retired';
export type SigningAlg = 'ES256' | 'EdDSA';

export interface KeyRow {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  created_at: Date | string;
  activated_at: Date | string | null;
  retiring_at: Date | string | null;
  retired_at: Date | string | null;
}

export interface KeySet {
  /** Private JWKs in provider order: the active key first (oidc-provider signs with the first match). */
  jwks: JWK[];
  /** Changes whenever the set of served keys or their order changes. */
  fingerprint: string;
  activeKid: string;
}

/** what the key store refused: an unknown kid, a key not in the state the change needs, a change too early */
export type KeyRefusal = 'unknown_key' | 'wrong_state' | 'too_early' | 'no_active_key';

export class KeyStoreError extends Error {
  override name = 'KeyStoreError';
  readonly refusal: KeyRefusal;
  constructor(message: string, refusal: KeyRefusal = 'no_active_key') {
    super(message);
    this.refusal = refusal;
  }
}

type StateAge = { state: KeyState; age: number | string } | undefined;
type KidRow = { kid: string } | undefined;

/** pg_advisory_xact_lock id for key changes (any process, any host) */
export const KEY_CHANGE_LOCK = 77_420_001;

export class KeyStore {
  readonly #db: Knex;
  readonly #kek: Kek;

  constructor(db: Knex, kek: Kek) {
    this.#db = db;
    this.#kek = kek;
  }

  async list(): Promise<KeyRow[]> {
    return this.#db('signing_keys')
      .select<KeyRow[]>('kid', 'alg', 'state', 'created_at', 'activated_at', 'retiring_at', 'retired_at')
      .orderBy('created_at', 'desc');
  }

  /** First start: generate and activate a key unless one is active. Safe to race from many processes. */
  async ensureActiveKey(alg: SigningAlg): Promise<void> {
    await this.#db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
      const active = await trx('signing_keys').where({ state: 'active' }).first<KidRow>('kid');
      if (active) return;
      await this.#insert(trx, alg, 'active');
    });
  }

  async publish(alg: SigningAlg): Promise<string> {
    return this.#db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
      return this.#insert(trx, alg, 'published');
    });
  }

  /**
   * Make a published key the signing key. `minPublishedSeconds` guards zero downtime: every process and
   * relying party must have seen the key in the JWKS before it signs anything.
   */
  async activate(kid: string, minPublishedSeconds: number): Promise<{ previous?: string }> {
    return this.#db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
      const row = await trx('signing_keys')
        .where({ kid })
        .first<StateAge>('state', trx.raw('extract(epoch from now() - created_at)::float as age'));
      if (!row) throw new KeyStoreError(`no key ${kid}`, 'unknown_key');
      if (row.state !== 'published')
        throw new KeyStoreError(`key ${kid} is ${String(row.state)}, not published`, 'wrong_state');
      if (Number(row.age) < minPublishedSeconds) {
        throw new KeyStoreError(
          `key ${kid} was published ${Math.floor(Number(row.age))} s ago; wait until it has been published for ${minPublishedSeconds} s so every process and relying party has it (or pass --force)`,
          'too_early',
        );
      }
      const previous = await trx('signing_keys').where({ state: 'active' }).first<KidRow>('kid');
      if (previous) {
        await trx('signing_keys').where({ kid: previous.kid }).update({ state: 'retiring', retiring_at: trx.fn.now() });
      }
      await trx('signing_keys').where({ kid }).update({ state: 'active', activated_at: trx.fn.now() });
      return previous ? { previous: previous.kid } : {};
    });
  }

  /**
   * Remove a retiring key from the JWKS and erase its private half. `minRetiringSeconds` (the longest token
   * lifetime) guards that no unexpired token still depends on it.
   */
  async retire(kid: string, minRetiringSeconds: number): Promise<void> {
    await this.#db.transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
      const row = await trx('signing_keys')
        .where({ kid })
        .first<StateAge>('state', trx.raw('extract(epoch from now() - retiring_at)::float as age'));
      if (!row) throw new KeyStoreError(`no key ${kid}`, 'unknown_key');
      if (row.state !== 'retiring')
        throw new KeyStoreError(`key ${kid} is ${String(row.state)}, not retiring`, 'wrong_state');
      if (Number(row.age) < minRetiringSeconds) {
        throw new KeyStoreError(
          `key ${kid} stopped signing ${Math.floor(Number(row.age))} s ago; tokens it signed live up to ${minRetiringSeconds} s (or pass --force)`,
          'too_early',
        );
      }
      await trx('signing_keys')
        .where({ kid })
        .update({ state: 'retired', retired_at: trx.fn.now(), private_jwe: null });
    });
  }

  /** The keys this process serves and signs with. */
  async load(): Promise<KeySet> {
    const rows = await this.#db('signing_keys')
      .select<{ kid: string; state: KeyState; private_jwe: string }[]>('kid', 'state', 'private_jwe')
      .whereIn('state', ['active', 'published', 'retiring'])
      .orderBy('created_at', 'desc');
    const order = { active: 0, published: 1, retiring: 2, retired: 3 } as const;
    rows.sort((a, b) => order[a.state] - order[b.state]);
    const active = rows[0];
    if (!active || active.state !== 'active') throw new KeyStoreError('no active signing key');
    const jwks = await Promise.all(rows.map(async (r) => JSON.parse(await this.#kek.decrypt(r.private_jwe)) as JWK));
    return { jwks, activeKid: active.kid, fingerprint: rows.map((r) => `${r.kid}:${r.state}`).join(',') };
  }

  async #insert(trx: Knex.Transaction, alg: SigningAlg, state: KeyState): Promise<string> {
    const { privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const priv: JWK = { ...jwk, kid, alg, use: 'sig' };
    const { d: _d, ...pub } = priv;
    await trx('signing_keys').insert({
      kid,
      alg,
      state,
      private_jwe: await this.#kek.encrypt(JSON.stringify(priv)),
      public_jwk: JSON.stringify(pub),
      kek_id: this.#kek.id,
      ...(state === 'active' ? { activated_at: trx.fn.now() } : {}),
    });
    return kid;
  }
}

/** Shared server secrets (cookie signing keys), generated once by whichever process starts first. */
/** Replaces a shared secret's value (sealed under the KEK), under the same lock as `sharedSecret` and rewrap. */
export async function replaceSecret(db: Knex, kek: Kek, name: string, value: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK + 1]);
    await trx('server_secrets')
      .insert({ name, jwe: await kek.encrypt(value), kek_id: kek.id })
      .onConflict('name')
      .merge();
  });
}

export async function sharedSecret(db: Knex, kek: Kek, name: string, make: () => string): Promise<string> {
  return db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK + 1]);
    const row = await trx('server_secrets').where({ name }).first<{ jwe: string } | undefined>('jwe');
    if (row) return kek.decrypt(row.jwe);
    const value = make();
    await trx('server_secrets').insert({ name, jwe: await kek.encrypt(value), kek_id: kek.id });
    return value;
  });
}
