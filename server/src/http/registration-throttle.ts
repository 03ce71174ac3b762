/**
 * Open dynamic client registration (RFC 7591) is an unauthenticated write: each address may register at
 * most `clients.registration.dcr.rate_limit.per_ip` clients per window (RFC 7591 §5 leaves abuse to the
 * server; RFC 6585 §4: 429 with Retry-After). Counted through Redis when configured, so the limit holds
 * across every process. Reads, updates and deletes (RFC 7592) are authenticated and not counted here.
 */
import type Koa from 'koa';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { rateLimiter, takePoint } from '../rate-limit.ts';

export function registrationThrottle(config: Config, redis: Redis | undefined): Koa.Middleware {
  const { per_ip, window_seconds } = config.clients.registration.dcr.rate_limit;
  const limiter = rateLimiter(redis, `${config.storage.redis_key_prefix}dcr-ip`, per_ip, window_seconds);
  const path = `${new URL(config.issuer).pathname.replace(/\/$/, '')}/reg`;
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    if (ctx.method !== 'POST' || ctx.path !== path) return next();
    const wait = await takePoint(limiter, ctx.ip, 'registration');
    if (wait !== undefined) {
      (ctx.state as { log?: Logger }).log?.warn({ address: ctx.ip, retry_after: wait }, 'registration.throttled');
      ctx.status = 429;
      ctx.set('Retry-After', String(wait));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = {
        error: 'temporarily_unavailable',
        error_description: `too many registrations from this address; retry after ${wait} s`,
      };
      return;
    }
    await next();
  };
}
