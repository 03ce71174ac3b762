/**
 * The state of baton's JWT access tokens, which oidc-provider does not track (RFC 9068 tokens are not
 * stored): verification against baton's own keys, revocation of one token and every token exchanged from
 * it (RFC 7009 + the lineage table), and the active/inactive answer of introspection (RFC 7662).
 *
 * A JWT access token is active when its signature, issuer, typ and expiry verify, its jti is not revoked,
 * the grant it descends from (`gid`) still exists, and its user's account is enabled.
 */
import { jwtVerify, type JWTPayload, type createLocalJWKSet } from 'jose';
import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { AccountStore } from '../accounts/store.ts';

export interface TokenStateDeps {
  issuer: string;
  ownKeys: ReturnType<typeof createLocalJWKSet>;
  /** revoked jtis, kept until the token's exp (a hot model: Redis when configured) */
  revoked: Adapter;
  accounts: AccountStore;
  db: Knex;
  /** a blocked client loses its tokens, and every token whose actor chain passes through it */
  isBlocked(clientId: string): boolean;
}

export type Inactive = { active: false; reason: string };

/**
 * How long one process may reuse a lookup of revocation state (jti revoked, grant present, account
 * enabled). A revocation therefore reaches every process within this time. A cache that is safe to lose.
 */
export const STATE_CACHE_MS = 1000;

/** How long, at most, a verified signature is trusted from the cache (see verifyOwn), and how many are kept. */
const VERIFIED_CACHE_MS = 5 * 60_000;
const VERIFIED_CACHE_ENTRIES = 5000;

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

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function tokenState(deps: TokenStateDeps) {
  const revokedCache = new TtlCache<boolean>();
  const grantCache = new TtlCache<boolean>();
  const accountCache = new TtlCache<boolean>();
  /**
   * Verified tokens of this key set, by their exact text: an MCP server exchanges one inbound token for
   * every downstream hop, and a resource server introspects it on every call, so the signature check is
   * done once. An entry lasts until the token's exp (checked at every use) and at most VERIFIED_CACHE_MS;
   * a new key set builds a new provider and with it a new cache. Revocation is not cached here.
   */
  const verified = new Map<string, { payload: JWTPayload; until: number }>();

  /** Signature, issuer, typ, expiry and the claims every baton access token carries; or why not. */
  async function verifyOwn(token: string): Promise<{ payload: JWTPayload } | { reason: string }> {
    const now = Date.now();
    const hit = verified.get(token);
    if (hit && hit.until > now && hit.payload.exp! * 1000 > now) return { payload: hit.payload };
    try {
      const { payload } = await jwtVerify(token, deps.ownKeys, {
        issuer: deps.issuer,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'jti', 'exp', 'client_id'],
      });
      if (verified.size >= VERIFIED_CACHE_ENTRIES) verified.clear(); // bounded: a cache, never a store
      // shared by every later request presenting this token: frozen, so no caller can alter it for the next
      verified.set(token, { payload: deepFreeze(payload), until: now + VERIFIED_CACHE_MS });
      return { payload };
    } catch (err) {
      return { reason: (err as { code?: string }).code ?? (err as Error).message };
    }
  }

  /** Signature, issuer, typ and expiry, or undefined. */
  async function verify(token: string): Promise<JWTPayload | undefined> {
    const result = await verifyOwn(token);
    return 'payload' in result ? result.payload : undefined;
  }

  /** Why a verified token is no longer active, or undefined when it is. */
  async function inactiveReason(provider: Provider, payload: JWTPayload): Promise<string | undefined> {
    const gid = typeof payload.gid === 'string' ? payload.gid : undefined;
    const chain: string[] = [String(payload.client_id)];
    for (
      let a = payload.act as { sub?: unknown; act?: unknown } | undefined;
      a && typeof a === 'object';
      a = a.act as typeof a
    ) {
      if (typeof a.sub === 'string') chain.push(a.sub);
    }
    const blocked = chain.find((id) => deps.isBlocked(id));
    if (blocked) return `client ${blocked} blocked`;
    const jti = String(payload.jti);
    const sub = String(payload.sub);
    const [revoked, grant, enabled] = await Promise.all([
      revokedCache.get(jti, async () => (await deps.revoked.find(jti)) !== undefined),
      gid ? grantCache.get(gid, async () => (await provider.Grant.find(gid)) !== undefined) : Promise.resolve(true),
      payload.idp
        ? accountCache.get(sub, async () => (await deps.accounts.find(sub))?.disabled === false)
        : Promise.resolve(true),
    ]);
    if (revoked) return 'token revoked';
    if (!grant) return `grant ${gid} revoked`;
    if (!enabled) return 'account disabled';
    return undefined;
  }

  /**
   * Revokes a token and, through the lineage, every token exchanged from it, each until its own expiry.
   * Returns how many were revoked.
   */
  async function revoke(payload: JWTPayload): Promise<number> {
    const now = Math.floor(Date.now() / 1000);
    const descendants = await deps.db
      .withRecursive('chain', (q) => {
        void q
          .select('jti', 'expires_at')
          .from('token_lineage')
          .where('parent_jti', String(payload.jti))
          .unionAll((u) => {
            void u
              .select('l.jti', 'l.expires_at')
              .from('token_lineage as l')
              .join('chain as c', 'l.parent_jti', 'c.jti');
          });
      })
      .select<{ jti: string; expires_at: Date | string }[]>('jti', 'expires_at')
      .from('chain');
    const all = [
      { jti: String(payload.jti), exp: payload.exp! },
      ...descendants.map((d) => ({ jti: d.jti, exp: Math.floor(new Date(d.expires_at).getTime() / 1000) })),
    ];
    await Promise.all(
      all.filter((t) => t.exp > now).map((t) => deps.revoked.upsert(t.jti, { jti: t.jti }, t.exp - now + 60)),
    );
    for (const t of all) revokedCache.delete(t.jti); // this process sees it at once; others within STATE_CACHE_MS
    return all.length;
  }

  return { verify, verifyOwn, inactiveReason, revoke };
}

export type TokenState = ReturnType<typeof tokenState>;
