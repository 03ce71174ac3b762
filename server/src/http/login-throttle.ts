/**
 * Password guessing at the local directory's sign-in form (OWASP ASVS V2.2.1, RFC 9700 §4.13 brute force):
 * failed sign-ins are counted per user from one client address, and per address across users
 * (rate-limiter-flexible); past either limit the form refuses for the rest of the window without checking
 * the password, and a success clears that user's count from that address. Counting a user per address means
 * an attacker elsewhere cannot lock the user out. Counters live in Redis when configured, so every process shares them; otherwise in this process
 * (the embedded store is single-process). A counter store that fails answers 503, never a 500 or a pass.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { isLimitReached, rateLimiter, RateLimitStoreError } from './rate-limit.ts';

export interface LoginThrottle {
  /** seconds until this user (or address) may try again, or undefined when they may now */
  blockedFor(idp: string, username: string, address: string): Promise<number | undefined>;
  failed(idp: string, username: string, address: string): Promise<void>;
  succeeded(idp: string, username: string, address: string): Promise<void>;
}

export function loginThrottle(config: Config, redis: Redis | undefined): LoginThrottle {
  const { per_user, per_ip, window_seconds } = config.login_throttle;
  const limiter = (name: string, points: number) =>
    rateLimiter(redis, `${config.storage.redis_key_prefix}login-${name}`, points, window_seconds);
  const users = limiter('user', per_user);
  const addresses = limiter('ip', per_ip);
  const userKey = (idp: string, username: string, address: string) => `${idp}:${username.toLowerCase()}@${address}`;

  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (isLimitReached(err)) return undefined as T;
      throw new RateLimitStoreError('login throttle store failed', { cause: err });
    }
  };

  return {
    async blockedFor(idp, username, address) {
      const [user, ip] = await guard(() =>
        Promise.all([users.get(userKey(idp, username, address)), addresses.get(address)]),
      );
      const waits = [
        user && user.consumedPoints >= per_user ? user.msBeforeNext : 0,
        ip && ip.consumedPoints >= per_ip ? ip.msBeforeNext : 0,
      ];
      const ms = Math.max(...waits);
      return ms > 0 ? Math.ceil(ms / 1000) : undefined;
    },
    async failed(idp, username, address) {
      await guard(() => Promise.all([users.consume(userKey(idp, username, address)), addresses.consume(address)]));
    },
    async succeeded(idp, username, address) {
      await guard(() => users.delete(userKey(idp, username, address)));
    },
  };
}
