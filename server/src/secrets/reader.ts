/**
 * The gateway's view of the upstream secrets (secrets/store.ts): an in-process cache of the decrypted
 * values, safe to lose, re-read from PostgreSQL every `refreshSeconds` so that a rotation made by any
 * process reaches every gateway process within that time, with no restart. A refresh is one cheap query of
 * the names this process uses (name, version, when stored, how long an overlap still lasts); a value is
 * fetched and decrypted only when its version changed (after a rotation the new previous is the old current,
 * already decrypted). `previous` is given only while its overlap lasts, timed by the database's clock. A
 * refresh that fails keeps the values in use (logged `secrets.refresh_failed`); nothing is ever logged of a
 * value.
 */
import type { Knex } from 'knex';
import type { Kek } from '../keys/kek.ts';
import { SECRET_NAME } from './store.ts';

/**
 * A stored secret's current value by name, and its previous one while a rotation's overlap lasts: what the
 * gateways' credentials and the brokered upstreams' client secrets read (secrets/stored.ts).
 */
export type SecretLookup = (name: string) => Promise<{ value: string; previous?: string }>;

export interface SecretReader {
  current(name: string): Promise<{ value: string; version: number; previous?: { value: string; version: number } }>;
  close(): void;
}

export interface SecretReaderOptions {
  /** how often the names in use are re-read (seconds; fractions allowed) */
  refreshSeconds: number;
  /** where a failed refresh is reported (`secrets.refresh_failed`) */
  log?: { warn(obj: object, msg: string): void } | undefined;
}

/** No secret of that name (never set, deleted, or not a valid name). */
export class SecretNotFound extends Error {
  override name = 'SecretNotFound';
  readonly secret: string;
  constructor(secret: string) {
    super(`no upstream secret ${secret.slice(0, 64)}`);
    this.secret = secret;
  }
}

/** a decrypted version, and what identifies its row (a name deleted and set again restarts at version 1) */
interface Held {
  value: string;
  version: number;
  stamp: string;
}

interface Entry {
  /** none: the name has no secret (a negative entry, re-read like the others) */
  current?: Held;
  /** the previous version and when, on this process's clock, its overlap ends */
  previous?: Held & { until: number };
}

interface MetaRow {
  name: string;
  version: number;
  created_at: Date | string;
  /** seconds left of the overlap, by the database's clock; null for the current version */
  remaining: number | string | null;
}

const stampOf = (r: MetaRow) => `${r.version}@${new Date(r.created_at).getTime()}`;

/** the (name, version) rows of these names that are handed out now: no value */
async function metaRows(db: Knex, names: string[]): Promise<MetaRow[]> {
  return db('upstream_secrets')
    .whereIn('name', names)
    .where((w) => void w.whereNull('valid_until').orWhere('valid_until', '>', db.fn.now()))
    .select<MetaRow[]>(
      'name',
      'version',
      'created_at',
      db.raw('extract(epoch from valid_until - now())::float8 as remaining'),
    );
}

async function decrypted(db: Knex, kek: Kek, name: string, r: MetaRow): Promise<Held> {
  const row = await db('upstream_secrets')
    .where({ name, version: r.version })
    .first<{ jwe: string } | undefined>('jwe');
  // rotated again between the two queries: the next refresh finds the newer rows
  if (!row) throw new Error(`upstream secret ${name} version ${r.version} changed while it was read`);
  return { value: await kek.decrypt(row.jwe), version: r.version, stamp: stampOf(r) };
}

/** The entry for one name from its rows, reusing what `old` already holds decrypted. */
async function entryOf(db: Knex, kek: Kek, name: string, rows: MetaRow[], old: Entry | undefined, at: number) {
  const held = [old?.current, old?.previous].filter((h): h is Held => h !== undefined);
  const reuse = async (r: MetaRow) => held.find((h) => h.stamp === stampOf(r)) ?? decrypted(db, kek, name, r);
  const cur = rows.find((r) => r.remaining === null);
  if (!cur) return {};
  const entry: Entry = { current: await reuse(cur) };
  const prev = rows.find((r) => r.remaining !== null && r.version < cur.version);
  if (prev) {
    const h = await reuse(prev);
    entry.previous = { value: h.value, version: h.version, stamp: h.stamp, until: at + Number(prev.remaining) * 1000 };
  }
  return entry;
}

export function secretReader(db: Knex, kek: Kek, opts: SecretReaderOptions): SecretReader {
  if (!(opts.refreshSeconds > 0) || !Number.isFinite(opts.refreshSeconds))
    throw new RangeError('refreshSeconds: a positive number of seconds');
  const cache = new Map<string, Entry>();
  const loading = new Map<string, Promise<Entry>>();
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  /** re-reads `names`; the clock reading before the query bounds each overlap (it ends no later) */
  const read = async (names: string[]) => {
    const at = Date.now();
    const rows = await metaRows(db, names);
    for (const name of names) {
      try {
        const next = await entryOf(
          db,
          kek,
          name,
          rows.filter((r) => r.name === name),
          cache.get(name),
          at,
        );
        if (!closed) cache.set(name, next);
      } catch (err) {
        // a first read fails to its caller; a refresh that cannot decrypt a new version here (a KEK this
        // process lacks) or that raced a second rotation keeps the entry in use
        if (!cache.has(name)) throw err;
        opts.log?.warn({ secret: name, reason: (err as Error).message }, 'secrets.refresh_failed');
      }
    }
  };

  const refresh = async () => {
    if (cache.size === 0) return;
    try {
      await read([...cache.keys()]);
    } catch (err) {
      opts.log?.warn({ reason: (err as Error).message }, 'secrets.refresh_failed');
    }
  };

  const schedule = () => {
    if (closed) return;
    timer = setTimeout(() => void refresh().finally(schedule), opts.refreshSeconds * 1000);
    timer.unref();
  };
  schedule();

  /** the first use of a name in this process: read now (concurrent first uses share one read) */
  const load = (name: string): Promise<Entry> => {
    let pending = loading.get(name);
    if (!pending) {
      pending = read([name])
        .then(() => cache.get(name) ?? {})
        .finally(() => loading.delete(name));
      loading.set(name, pending);
    }
    return pending;
  };

  return {
    async current(name) {
      if (closed) throw new Error('the secret reader is closed');
      if (!SECRET_NAME.test(name)) throw new SecretNotFound(name);
      const entry = cache.get(name) ?? (await load(name));
      if (!entry.current) throw new SecretNotFound(name);
      const { value, version } = entry.current;
      const prev = entry.previous;
      return prev && Date.now() < prev.until
        ? { value, version, previous: { value: prev.value, version: prev.version } }
        : { value, version };
    },
    close() {
      closed = true;
      clearTimeout(timer);
      cache.clear();
    },
  };
}
