/**
 * Password guessing at the local directory's sign-in form (OWASP ASVS V2.2.1, RFC 9700 §4.13 brute force):
 * failed sign-ins are counted per user from one client address, and per address across users
 * (rate-limiter-flexible); past either limit the form refuses for the rest of the window without checking
 * the password. Counting a user per address means an attacker elsewhere cannot lock the user out.
 *
 * Each attempt takes its points before the password is checked (an atomic increment: a Lua script in Redis,
 * the event loop in this process), so attempts sent at once cannot all pass a read-then-check: with a limit
 * of 5, exactly 5 are checked and the rest are refused. A success gives the attempt back: it clears that
 * user's count from that address and returns the address's point; an attempt the address refuses returns
 * the user's point (it was not checked). A failure keeps its points.
 *
 * Counters live in Redis when configured, so every process shares them; otherwise in this process (the
 * embedded store is single-process). A counter store that fails answers 503, never a 500 or a pass.
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config/schema.ts';
import { isLimitReached, rateLimiter, RateLimitStoreError, retryAfterSeconds } from '../rate-limit.ts';

/** One counted sign-in attempt. */
export type LoginAttempt =
  /** past a limit: the password must not be checked; seconds until this user (or address) may try again */
  | { allowed: false; retryAfter: number }
  /** counted: check the password; a failure keeps the points, a success gives them back */
  | { allowed: true; succeeded(): Promise<void> };

export interface LoginThrottle {
  /** Counts one attempt, before its password is checked. */
  attempt(idp: string, username: string, address: string): Promise<LoginAttempt>;
}

/**
 * A point given back less than this before its window ends is kept instead: a refund that reached the store
 * after the window rolled over would start the next window below zero (one extra guess per late refund).
 */
const REFUND_MARGIN_MS = 1000;

interface Taken {
  limiter: RateLimiterAbstract;
  key: string;
  /** the window ends no earlier than this (performance.now() clock) */
  deadline: number;
}

export function loginThrottle(config: Config, redis: Redis | undefined): LoginThrottle {
  const { per_user, per_ip, window_seconds } = config.login_throttle;
  const limiter = (name: string, points: number) =>
    rateLimiter(redis, `${config.storage.redis_key_prefix}login-${name}`, points, window_seconds);
  const users = limiter('user', per_user);
  const addresses = limiter('ip', per_ip);
  const userKey = (idp: string, username: string, address: string) => `${idp}:${username.toLowerCase()}@${address}`;

  const storeFailed = (err: unknown) => new RateLimitStoreError('login throttle store failed', { cause: err });

  /** Takes one point: the taken point, or the limiter's refusal (RateLimiterRes) when past the limit. */
  async function take(l: RateLimiterAbstract, key: string): Promise<Taken | RateLimiterRes> {
    const started = performance.now();
    try {
      const res = await l.consume(key);
      return { limiter: l, key, deadline: started + res.msBeforeNext };
    } catch (err) {
      if (isLimitReached(err)) return err as RateLimiterRes;
      throw storeFailed(err);
    }
  }

  /** Gives a taken point back, unless its window is (nearly) over. */
  async function refund(t: Taken): Promise<void> {
    if (performance.now() > t.deadline - REFUND_MARGIN_MS) return;
    try {
      const res = await t.limiter.reward(t.key);
      // below zero: the window rolled over before the refund arrived; take the point back (increments commute)
      if (res.consumedPoints < 0) await t.limiter.penalty(t.key);
    } catch (err) {
      throw storeFailed(err);
    }
  }

  const isTaken = (r: Taken | RateLimiterRes): r is Taken => 'deadline' in r;

  return {
    async attempt(idp, username, address) {
      const key = userKey(idp, username, address);
      const refusedFor = (r: RateLimiterRes) => ({
        allowed: false as const,
        retryAfter: retryAfterSeconds(r.msBeforeNext),
      });
      // the user first: attempts at a user already past the limit take nothing from the address
      const user = await take(users, key);
      if (!isTaken(user)) return refusedFor(user);
      const ip = await take(addresses, address);
      if (!isTaken(ip)) {
        await refund(user); // not checked: the user's point goes back
        return refusedFor(ip);
      }
      return {
        allowed: true,
        async succeeded() {
          try {
            await users.delete(key);
          } catch (err) {
            throw storeFailed(err);
          }
          await refund(ip);
        },
      };
    },
  };
}
