/**
 * Where the gateway remembers DPoP proof ids (RFC 9449 §11.1: each proof accepted once): with
 * `storage.redis`, in Redis, shared by every gateway process (a proof replayed to another process is
 * refused there too); without, in this process's memory (one gateway process).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { memoryReplayStore, redisReplayStore, type ReplayStore } from '../../../clients/src/verify.ts';
import type { Config } from '../config/schema.ts';
import { StorageError } from '../storage/index.ts';

export async function gatewayReplayStore(
  config: Config,
  log: Logger,
): Promise<{ store: ReplayStore; close: () => Promise<void> }> {
  const url = config.storage.redis;
  if (!url) return { store: memoryReplayStore(), close: async () => {} };
  const redis = new Redis(url, {
    lazyConnect: true,
    // fail fast while disconnected: the kit answers 503 rather than queueing proofs
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
  });
  redis.on('error', (err: Error) => log.warn({ err: { message: err.message } }, 'redis.error'));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new StorageError(`storage.redis: cannot connect (${(err as Error).message})`);
  }
  return {
    store: redisReplayStore(redis, `${config.storage.redis_key_prefix}gateway:dpop:`),
    close: async () => void (await redis.quit().catch(() => redis.disconnect())),
  };
}
