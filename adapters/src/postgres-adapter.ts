/**
 * oidc-provider adapter over PostgreSQL (knex + pg), also used on the embedded PGlite store.
 * One table, oidc_payloads (migrations/20261125000001_create_oidc_payloads.ts); layout in STORAGE.md.
 * consume is a single conditional UPDATE, so exactly one of any number of concurrent redemptions, from
 * any number of processes, wins (RFC 6749 §4.1.2: codes are single-use).
 */
import type { Knex } from 'knex';
import { CONSUMABLE, indexFields, type Adapter, type AdapterPayload } from './models.ts';
import { alreadyConsumed, guard, UnstorableValue } from './errors.ts';

const TABLE = 'oidc_payloads';

/**
 * PostgreSQL text cannot hold U+0000, and jsonb refuses it and unpaired surrogates. No stored key has a NUL,
 * so a key that does (a hostile client_id, code or token) is simply not found. A payload that has either was
 * built from request parameters (state, login_hint, …): it is refused as UnstorableValue (the server answers
 * invalid_request, RFC 6749 §5.2), not as a store failure.
 */
const hasNul = (value: string) => value.includes('\u0000');
/**
 * JSON.stringify writes U+0000 and unpaired surrogates (only those) as \u escapes: one not preceded by an
 * escaped backslash.
 */
const UNSTORABLE_JSON = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;
function storable(model: string, payload: AdapterPayload): string {
  const json = JSON.stringify(payload);
  if (UNSTORABLE_JSON.test(json)) throw new UnstorableValue(model, 'payload');
  return json;
}

interface Row {
  payload: AdapterPayload | string;
  consumed: number | string | null;
}

export class PostgresAdapter implements Adapter {
  readonly model: string;
  readonly #db: Knex;

  constructor(model: string, db: Knex) {
    this.model = model;
    this.#db = db;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const { grantId, userCode, uid } = indexFields(payload);
    const db = this.#db;
    const json = storable(this.model, payload);
    await guard(this.model, 'upsert', () =>
      db(TABLE)
        .insert({
          model: this.model,
          id,
          payload: json,
          grant_id: grantId ?? null,
          user_code: userCode ?? null,
          uid: uid ?? null,
          expires_at: expiresIn ? db.raw('now() + make_interval(secs => ?)', [expiresIn]) : null,
        })
        .onConflict(['model', 'id'])
        .merge(['payload', 'grant_id', 'user_code', 'uid', 'expires_at']),
    );
  }

  find(id: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('find', { id });
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('findByUid', { uid });
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findWhere('findByUserCode', { user_code: userCode });
  }

  async consume(id: string): Promise<void> {
    if (hasNul(id)) return;
    const won = await guard(this.model, 'consume', () =>
      this.#db(TABLE)
        .where({ model: this.model, id })
        .whereNull('consumed_at')
        .update({ consumed_at: this.#db.fn.now() }, ['id']),
    );
    if (won.length !== 1 && CONSUMABLE.has(this.model))
      throw alreadyConsumed(this.model, (await this.find(id).catch(() => undefined))?.grantId);
  }

  async claim(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean> {
    // a claimed id must be stored as itself: one PostgreSQL cannot hold (NUL) or would store altered (an
    // unpaired surrogate becomes U+FFFD, so two ids would collide) is refused, as for payloads
    if (hasNul(id) || !id.isWellFormed()) throw new UnstorableValue(this.model, 'id');
    const db = this.#db;
    const json = storable(this.model, payload);
    // one statement: insert, or take over a row that has expired but not yet been collected
    const won: unknown[] = await guard(this.model, 'claim', () =>
      db(TABLE)
        .insert({
          model: this.model,
          id,
          payload: json,
          consumed_at: db.fn.now(),
          expires_at: db.raw('now() + make_interval(secs => ?)', [Math.max(1, Math.ceil(expiresIn))]),
        })
        .onConflict(['model', 'id'])
        .merge(['payload', 'consumed_at', 'expires_at'])
        .where(`${TABLE}.expires_at`, '<=', db.fn.now())
        .returning('id'),
    );
    return won.length === 1;
  }

  async destroy(id: string): Promise<void> {
    if (hasNul(id)) return;
    await guard(this.model, 'destroy', () => this.#db(TABLE).where({ model: this.model, id }).delete());
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    if (hasNul(grantId)) return;
    await guard(this.model, 'revokeByGrantId', () =>
      this.#db(TABLE).where({ model: this.model, grant_id: grantId }).delete(),
    );
  }

  async #findWhere(op: string, where: Record<string, string>): Promise<AdapterPayload | undefined> {
    if (Object.values(where).some(hasNul)) return undefined;
    const row = await guard(this.model, op, () =>
      this.#db(TABLE)
        .select('payload', this.#db.raw('floor(extract(epoch from consumed_at))::bigint as consumed'))
        .where({ model: this.model, ...where })
        .andWhere((q) => {
          void q.whereNull('expires_at').orWhere('expires_at', '>', this.#db.fn.now());
        })
        .first<Row | undefined>(),
    );
    if (!row) return undefined;
    const payload = typeof row.payload === 'string' ? (JSON.parse(row.payload) as AdapterPayload) : row.payload;
    return row.consumed === null ? payload : { ...payload, consumed: Number(row.consumed) };
  }
}

/** Deletes expired rows in bounded batches; every process may run it (deletes are idempotent). */
export async function collectExpiredPostgres(db: Knex, batch = 1000): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted: unknown[] = await db(TABLE)
      .whereIn(['model', 'id'], db(TABLE).select('model', 'id').where('expires_at', '<', db.fn.now()).limit(batch))
      .delete(['id']);
    const n = deleted.length;
    total += n;
    if (n < batch) return total;
  }
}
