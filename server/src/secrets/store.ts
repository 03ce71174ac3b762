/**
 * The upstream secrets (migrations/20261201000060_create_upstream_secrets.ts): the credentials the gateway
 * adds to what it forwards to a shared-key MCP server, kept in one place, each value sealed under the KEK
 * with the envelope of the signing keys (keys/kek.ts). Versioned: `create` stores version 1 and refuses a
 * name that exists (so that nobody overwrites a key by accident); `rotate` stores the next version and keeps
 * the previous one handed out until `now + overlap` (none: it is gone for new requests at once); `remove`
 * drops every version. Changes are serialised with each other and with `baton keys rewrap` by the key-change
 * lock. Nothing here ever returns, logs or throws a value: the plain value exists only on its way in (to be
 * sealed) and in the gateway's reader (secrets/reader.ts).
 */
import type { Knex } from 'knex';
import type { Kek } from '../keys/kek.ts';
import { KEY_CHANGE_LOCK } from '../keys/keystore.ts';

/**
 * A secret's name: 1–64 characters of A–Z a–z 0–9 . _ -, the first a letter or a digit (so that a name is
 * never read as a command-line option, nor as a `.`/`..` segment of an admin API path).
 */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** the largest value, in UTF-8 bytes */
export const MAX_SECRET_BYTES = 8192;
/** the longest overlap of a rotation (30 days), in seconds */
export const MAX_OVERLAP_SECONDS = 30 * 24 * 3600;

// eslint-disable-next-line no-control-regex -- the point is to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * What is wrong with a value, in words that never quote it; undefined when it may be stored. A value goes
 * into an HTTP header or a query parameter upstream: no line break or other control character (RFC 9110
 * §5.5 — a CR or LF would split the header), no unpaired surrogate, nothing empty.
 */
export function valueProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (CONTROL.test(value)) return 'has a line break or another control character';
  if (!value.isWellFormed()) return 'is not well-formed Unicode';
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) return `is longer than ${MAX_SECRET_BYTES} bytes`;
  return undefined;
}

export type SecretRefusal = 'exists' | 'unknown';

/** The store refused a change: the name exists already (create), or is unknown (rotate, remove). */
export class SecretStoreError extends Error {
  override name = 'SecretStoreError';
  readonly refusal: SecretRefusal;
  constructor(message: string, refusal: SecretRefusal) {
    super(message);
    this.refusal = refusal;
  }
}

export interface SecretVersion {
  version: number;
  created_at: string;
}

export interface SecretListing extends SecretVersion {
  name: string;
  /** the version before the last rotation, while its overlap lasts */
  previous: { version: number; valid_until: string } | null;
}

export interface Created extends SecretVersion {
  name: string;
}

export interface Rotated extends SecretVersion {
  name: string;
  /** the version it replaced and until when it is still handed out; null without an overlap */
  previous: { version: number; valid_until: string } | null;
}

export interface Removed {
  name: string;
  /** the current version it had */
  version: number;
  /** how many versions were dropped (the previous one in its overlap too) */
  versions: number;
}

const TABLE = 'upstream_secrets';
const iso = (d: Date | string) => new Date(d).toISOString();

async function locked<T>(db: Knex, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    // one change at a time, and never while `baton keys rewrap` re-encrypts (keys/rewrap.ts)
    await trx.raw('select pg_advisory_xact_lock(?)', [KEY_CHANGE_LOCK]);
    return fn(trx);
  });
}

async function currentVersion(trx: Knex.Transaction, name: string): Promise<number | undefined> {
  const row = await trx(TABLE)
    .where({ name })
    .whereNull('valid_until')
    .first<{ version: number } | undefined>('version');
  return row?.version;
}

async function insert(trx: Knex.Transaction, kek: Kek, name: string, version: number, value: string) {
  const [row] = await trx(TABLE)
    .insert({ name, version, jwe: await kek.encrypt(value), kek_id: kek.id })
    .returning<{ created_at: Date | string }[]>('created_at');
  return iso(row!.created_at);
}

/** Stores version 1 of a new secret; SecretStoreError `exists` when the name is taken (rotate it instead). */
export async function createSecret(db: Knex, kek: Kek, name: string, value: string): Promise<Created> {
  return locked(db, async (trx) => {
    if (await trx(TABLE).where({ name }).first('version'))
      throw new SecretStoreError(`secret ${name} exists; rotate it to store a new value`, 'exists');
    return { name, version: 1, created_at: await insert(trx, kek, name, 1, value) };
  });
}

/**
 * Stores the next version. The one it replaces is handed out until `now + overlapSeconds` (for an upstream
 * that accepts two keys while the new one is deployed there); with no overlap it is dropped at once (calls
 * in flight already hold it). A version older than that, in the overlap of an earlier rotation, is dropped.
 */
export async function rotateSecret(
  db: Knex,
  kek: Kek,
  name: string,
  value: string,
  overlapSeconds: number,
): Promise<Rotated> {
  return locked(db, async (trx) => {
    const current = await currentVersion(trx, name);
    if (current === undefined) throw new SecretStoreError(`no secret ${name}`, 'unknown');
    await trx(TABLE).where({ name }).where('version', '<', current).delete();
    let previous: Rotated['previous'] = null;
    if (overlapSeconds > 0) {
      const [row] = await trx(TABLE)
        .where({ name, version: current })
        .update({ valid_until: trx.raw("now() + ? * interval '1 second'", [overlapSeconds]) })
        .returning<{ valid_until: Date | string }[]>('valid_until');
      previous = { version: current, valid_until: iso(row!.valid_until) };
    } else {
      await trx(TABLE).where({ name, version: current }).delete();
    }
    const version = current + 1;
    return { name, version, created_at: await insert(trx, kek, name, version, value), previous };
  });
}

/** Drops every version of a secret; SecretStoreError `unknown` when there is none. */
export async function removeSecret(db: Knex, name: string): Promise<Removed> {
  return locked(db, async (trx) => {
    const current = await currentVersion(trx, name);
    if (current === undefined) throw new SecretStoreError(`no secret ${name}`, 'unknown');
    const versions = await trx(TABLE).where({ name }).delete();
    return { name, version: current, versions };
  });
}

interface ListedRow {
  name: string;
  version: number;
  created_at: Date | string;
  valid_until: Date | string | null;
}

/** Every secret: its current version and, while its overlap lasts, the previous one. Never a value. */
export async function listSecrets(db: Knex): Promise<SecretListing[]> {
  const rows = await db(TABLE)
    .where((w) => void w.whereNull('valid_until').orWhere('valid_until', '>', db.fn.now()))
    .orderBy([{ column: 'name' }, { column: 'version', order: 'desc' }])
    .select<ListedRow[]>('name', 'version', 'created_at', 'valid_until');
  const listed: SecretListing[] = [];
  for (const r of rows) {
    if (r.valid_until === null) {
      listed.push({ name: r.name, version: r.version, created_at: iso(r.created_at), previous: null });
      continue;
    }
    const current = listed.at(-1);
    if (current?.name === r.name) current.previous = { version: r.version, valid_until: iso(r.valid_until) };
  }
  return listed;
}
