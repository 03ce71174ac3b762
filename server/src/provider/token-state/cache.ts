/**
 * How long one process may reuse a lookup of revocation state (jti revoked, grant present, account
 * enabled). A revocation therefore reaches every process within this time. A cache that is safe to lose.
 */
export const STATE_CACHE_MS = 1000;

/** Lookups shared for STATE_CACHE_MS by every request of this process; a failed lookup is not kept. */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: Promise<V>; until: number }>();
  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = Date.now();
    const hit = this.#entries.get(key);
    if (hit && hit.until > now) return hit.value;
    if (this.#entries.size > 10_000) this.#entries.clear(); // bounded: a cache, never a store
    const value = load();
    this.#entries.set(key, { value, until: now + STATE_CACHE_MS });
    value.catch(() => this.#entries.delete(key));
    return value;
  }
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
