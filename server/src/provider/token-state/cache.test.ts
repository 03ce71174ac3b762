import { afterEach, describe, expect, it, vi } from 'vitest';
import { STATE_CACHE_MS, TtlCache } from './cache.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('TtlCache (lookups shared for STATE_CACHE_MS, safe to lose)', () => {
  it('shares one lookup per key until STATE_CACHE_MS has passed, then loads again', async () => {
    vi.useFakeTimers();
    const cache = new TtlCache<number>();
    let loads = 0;
    const load = async () => ++loads;
    expect(await cache.get('k', load)).toBe(1);
    vi.advanceTimersByTime(STATE_CACHE_MS - 1);
    expect(await cache.get('k', load)).toBe(1);
    expect(await cache.get('other', load)).toBe(2);
    vi.advanceTimersByTime(1);
    expect(await cache.get('k', load)).toBe(3);
  });

  it('keeps no failed lookup, and forgets a deleted key at once', async () => {
    const cache = new TtlCache<string>();
    await expect(cache.get('k', () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    expect(await cache.get('k', async () => 'fresh')).toBe('fresh');
    cache.delete('k');
    expect(await cache.get('k', async () => 'after delete')).toBe('after delete');
  });
});
