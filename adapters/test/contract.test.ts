import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import ClientPgLite from 'knex-pglite';
import { migrationConfig } from '../../migrations/index.ts';
import { freshDatabase, redisPrefix, requireEnv } from '../../server/test/helpers.ts';
import { PostgresAdapter, collectExpiredPostgres } from '../src/postgres-adapter.ts';
import { RedisAdapter } from '../src/redis-adapter.ts';
import { adapterContract } from './contract.suite.ts';

let pgDb: knexFactory.Knex | undefined;
adapterContract({
  name: 'postgres',
  async open() {
    const fresh = await freshDatabase();
    const db = knexFactory({ client: 'pg', connection: fresh.url, pool: { min: 0, max: 10 } });
    pgDb = db;
    await db.migrate.latest(migrationConfig);
    return {
      adapter: (model) => new PostgresAdapter(model, db),
      close: async () => {
        await db.destroy();
        await fresh.drop();
      },
    };
  },
  collect: () => collectExpiredPostgres(pgDb!),
});

adapterContract({
  name: 'redis',
  async open() {
    const redis = new Redis(requireEnv('TEST_REDIS_URL'));
    const prefix = redisPrefix();
    return {
      adapter: (model) => new RedisAdapter(model, redis, prefix),
      close: async () => {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length) await redis.del(...keys);
        await redis.quit();
      },
    };
  },
});

let liteDb: knexFactory.Knex | undefined;
adapterContract({
  name: 'embedded (PGlite)',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'baton-contract-'));
    const db = knexFactory({ client: ClientPgLite as never, connection: { filename: join(dir, 'pg') } });
    liteDb = db;
    await db.migrate.latest(migrationConfig);
    return {
      adapter: (model) => new PostgresAdapter(model, db),
      close: async () => {
        await db.destroy();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  collect: () => collectExpiredPostgres(liteDb!),
});
