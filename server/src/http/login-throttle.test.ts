import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import { loginThrottle } from './login-throttle.ts';
import { RateLimitStoreError } from '../rate-limit.ts';

const config = configSchema.parse({
  issuer: 'http://127.0.0.1:9400',
  mode: 'development',
  login_throttle: { per_user: 2, per_ip: 3, window_seconds: 900 },
});

describe('loginThrottle (in this process)', () => {
  it('counts each attempt before its check; a success gives its points back', async () => {
    const t = loginThrottle(config, undefined);
    const at = (user: string, address = '192.0.2.1') => t.attempt('local', user, address);
    // per user (2), attempts at once: the third is refused, for the rest of the window, and takes no address point
    const burst = await Promise.all([at('alice'), at('alice'), at('alice')]);
    expect(burst.map((a) => a.allowed)).toEqual([true, true, false]);
    expect(await at('ALICE')).toEqual({ allowed: false, retryAfter: 900 }); // names are case-insensitive
    // the same user from elsewhere is not refused: an attacker cannot lock the user out
    expect((await at('alice', '192.0.2.2')).allowed).toBe(true);

    // per address (3): two failures so far; a success gives its address point back
    for (let i = 0; i < 3; i++) {
      const bob = await at('bob');
      if (!bob.allowed) throw new Error('bob refused');
      await bob.succeeded();
    }
    expect((await at('carol')).allowed).toBe(true); // the third failure
    expect(await at('dave')).toEqual({ allowed: false, retryAfter: 900 });
  });
});

describe('loginThrottle with a counter store that fails', () => {
  it('answers 503 (RateLimitStoreError), never a pass', async () => {
    // a client that never connected, and does not queue: every command fails at once, as during an outage
    const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false });
    try {
      const err = await loginThrottle(config, redis)
        .attempt('local', 'alice', '192.0.2.1')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RateLimitStoreError);
      expect(err).toMatchObject({ status: 503, expose: false });
    } finally {
      redis.disconnect();
    }
  });
});
