/**
 * One way to count: rate-limiter-flexible counters in Redis when it is configured (so every process shares
 * them, DEVELOPERS "scale-out ready"), otherwise in this process (the embedded store is single-process).
 * Used by the sign-in throttle, the DCR limit and the CIMD fetch limit.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';

export function rateLimiter(
  redis: Redis | undefined,
  keyPrefix: string,
  points: number,
  windowSeconds: number,
): RateLimiterAbstract {
  return redis
    ? new RateLimiterRedis({ storeClient: redis, keyPrefix, points, duration: windowSeconds, useRedisPackage: false })
    : new RateLimiterMemory({ points, duration: windowSeconds });
}

/** The counter store failed: 503 (never a 500, and never a pass). */
export class RateLimitStoreError extends Error {
  override name = 'RateLimitStoreError';
  readonly status = 503;
  readonly statusCode = 503; // oidc-provider's error handler reads statusCode
  readonly expose = false;
}

/** rate-limiter-flexible rejects with a RateLimiterRes when the points run out: that is not a failure. */
export function isLimitReached(err: unknown): err is { msBeforeNext: number } {
  return Boolean(err && typeof err === 'object' && 'msBeforeNext' in err);
}

/** RFC 9110 §10.2.3 `Retry-After` for a limit reached: whole seconds until a point is back, at least 1. */
export const retryAfterSeconds = (msBeforeNext: number): number => Math.max(1, Math.ceil(msBeforeNext / 1000));

/**
 * Takes one point of `key`: undefined when there was one, else the seconds until there is (Retry-After). A
 * failing counter store is a RateLimitStoreError naming `what` (a 503, never a pass).
 */
export async function takePoint(limiter: RateLimiterAbstract, key: string, what: string): Promise<number | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (err) {
    if (!isLimitReached(err)) throw new RateLimitStoreError(`${what} rate limit store failed`, { cause: err });
    return retryAfterSeconds(err.msBeforeNext);
  }
}
