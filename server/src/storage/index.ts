/**
 * openStorage: the durable store (PostgreSQL, or embedded PGlite in a local data directory) and the hot
 * store (Redis, when configured), and the oidc-provider adapter factory that routes each model:
 *   - storage.postgres + storage.redis: DURABLE models → PostgreSQL, the rest → Redis;
 *   - storage.postgres only: every model → PostgreSQL;
 *   - neither (embedded default): every model → PGlite in storage.data_dir (one process only).
 * Every adapter it hands out throws OAuth errors (oauth-errors.ts), not the adapters' own.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PostgresAdapter } from '../../../adapters/src/postgres-adapter.ts';
import { RedisAdapter } from '../../../adapters/src/redis-adapter.ts';
import { HASHED_ID_MODELS, withHashedIds } from '../../../adapters/src/hashed-ids.ts';
import { DURABLE, type Adapter } from '../../../adapters/src/models.ts';
import { withOAuthErrors } from './oauth-errors.ts';
import { migrationConfig, migrationsCurrent } from '../../../migrations/index.ts';
import type { Config } from '../config/schema.ts';

export interface Storage {
  readonly kind: 'embedded' | 'postgres' | 'postgres+redis';
  readonly db: Knex;
  readonly redis: Redis | undefined;
  /** the embedded store's directory (absolute); undefined on PostgreSQL */
  readonly dataDir?: string;
  /** The model's adapter (one per model), its errors mapped to OAuth errors (oauth-errors.ts). */
  adapterFor(model: string): Adapter;
  migrate(direction?: 'latest' | 'rollback'): Promise<string[]>;
  /** Readiness: each store answers, and the schema is current. Never throws. */
  check(): Promise<{ postgres: boolean; redis?: boolean; migrations: boolean }>;
  close(): Promise<void>;
}

export class StorageError extends Error {
  override name = 'StorageError';
}

/** The embedded store's directory is held by another live process (a running server, or another command). */
export class DataDirInUseError extends StorageError {
  override name = 'DataDirInUseError';
  readonly dir: string;
  readonly pid: number;
  constructor(dir: string, pid: number) {
    super(
      `storage.data_dir: ${dir} is in use by process ${pid}; the embedded store serves one process (use storage.postgres to run several)`,
    );
    this.dir = dir;
    this.pid = pid;
  }
}

export async function openStorage(config: Config, log: Logger): Promise<Storage> {
  const { storage } = config;
  const { db, dataDir, release } = openDatabase(storage, log);
  let redis: Redis | undefined;
  try {
    redis = storage.redis ? await connectRedis(storage.redis, log) : undefined;
  } catch (err) {
    await db.destroy();
    release();
    throw err;
  }
  try {
    await db.raw('select 1');
  } catch (err) {
    redis?.disconnect();
    await db.destroy();
    release();
    throw new StorageError(
      `storage.${storage.postgres ? 'postgres' : 'data_dir'}: cannot open the database (${(err as Error).message})`,
    );
  }
  return storageOn(storage, { db, redis, dataDir, release });
}

/** The knex pool on PostgreSQL, or on PGlite in storage.data_dir (locked to this process). */
function openDatabase(
  storage: Config['storage'],
  log: Logger,
): { db: Knex; dataDir: string | undefined; release: () => void } {
  // knex reports pool and connection trouble through this hook (default: console)
  const knexLog = {
    warn: (message: unknown) => log.warn({ knex: String(message) }, 'storage.knex'),
    error: (message: unknown) => log.warn({ knex: String(message) }, 'storage.knex'),
    deprecate: (message: unknown) => log.debug({ knex: String(message) }, 'storage.knex'),
    debug: (message: unknown) => log.debug({ knex: String(message) }, 'storage.knex'),
  };
  if (storage.postgres) {
    const db = knexFactory({
      client: 'pg',
      connection: {
        connectionString: storage.postgres,
        connectionTimeoutMillis: 3000,
        statement_timeout: 5000,
        application_name: 'baton',
      },
      pool: { min: 0, max: storage.postgres_pool_max },
      acquireConnectionTimeout: 5000,
      log: knexLog,
    });
    return { db, dataDir: undefined, release: () => {} };
  }
  const dir = resolve(storage.data_dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const release = lockDataDir(dir);
  const db = knexFactory({
    client: ClientPgLite,
    connection: { filename: join(dir, 'pg') },
    log: knexLog,
  });
  return { db, dataDir: dir, release };
}

async function connectRedis(url: string, log: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    // fail fast while disconnected instead of queueing requests until they time out
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on('error', (err: Error) => log.warn({ err: { message: err.message } }, 'redis.error'));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new StorageError(`storage.redis: cannot connect (${(err as Error).message})`);
  }
  return redis;
}

function storageOn(
  storage: Config['storage'],
  opened: { db: Knex; redis: Redis | undefined; dataDir: string | undefined; release: () => void },
): Storage {
  const { db, redis, dataDir, release } = opened;
  const adapters = new Map<string, Adapter>();
  const kind = redis ? 'postgres+redis' : storage.postgres ? 'postgres' : 'embedded';
  return {
    kind,
    db,
    redis,
    ...(dataDir ? { dataDir } : {}),
    adapterFor(model) {
      let adapter = adapters.get(model);
      if (!adapter) {
        const stored: Adapter =
          redis && !DURABLE.has(model)
            ? new RedisAdapter(model, redis, storage.redis_key_prefix)
            : new PostgresAdapter(model, db);
        adapter = withOAuthErrors(HASHED_ID_MODELS.has(model) ? withHashedIds(stored) : stored);
        adapters.set(model, adapter);
      }
      return adapter;
    },
    async migrate(direction = 'latest') {
      const [, names] = (await (direction === 'latest'
        ? db.migrate.latest(migrationConfig)
        : db.migrate.rollback(migrationConfig))) as [number, string[]];
      return names;
    },
    async check() {
      const ok = async (p: Promise<unknown>) =>
        p.then(
          () => true,
          () => false,
        );
      const [postgres, redisUp] = await Promise.all([
        ok(db.raw('select 1')),
        redis ? ok(redis.ping()) : Promise.resolve(undefined),
      ]);
      const migrations = postgres ? await migrationsCurrent(db).catch(() => false) : false;
      return { postgres, migrations, ...(redisUp === undefined ? {} : { redis: redisUp }) };
    },
    async close() {
      await Promise.allSettled([redis?.quit(), db.destroy()]);
      release();
    },
  };
}

/** PGlite is single-process: a second baton on the same data directory would corrupt it. */
function lockDataDir(dir: string): () => void {
  const lock = join(dir, 'baton.lock');
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx' });
  } catch {
    const pid = Number(readFileSync(lock, 'utf8'));
    if (pid && pid !== process.pid && isAlive(pid)) throw new DataDirInUseError(dir, pid);
    writeFileSync(lock, String(process.pid));
  }
  return () => rmSync(lock, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
