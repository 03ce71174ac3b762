/**
 * The Status List Token of a list (draft-ietf-oauth-status-list-20 §5.1): a JWT with header `typ`
 * `statuslist+jwt`, signed with baton's active signing key (the JWKS serves its public half), claims `sub`
 * (the list's URI, as the Referenced Tokens name it: §6.2), `iat`, `exp`, `ttl` and `status_list`
 * (`{ bits, lst }`, §4.2). The bits are read from PostgreSQL on every build, so every process answers the
 * same bits; each process keeps its signed answer for at most CACHE_MS (a cache that is safe to lose).
 */
import { importJWK, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import type { Knex } from 'knex';
import { encodeStatusList, StatusArray, isStatusBits } from './format.ts';
import { statusListUri } from './issue.ts';

/** how long a process reuses a signed answer (ms) */
export const CACHE_MS = 1000;

export interface StatusListServeDeps {
  issuer: string;
  db: Knex;
  /** `status_list.ttl_seconds`: §5.1 `ttl` */
  ttlSeconds: number;
  /** `status_list.max_age_seconds`: `exp` − `iat` */
  maxAgeSeconds: number;
  /** the active private signing key (the first of the key set) and its algorithm */
  signingKey(): { jwk: JWK; alg: string };
}

/** §4.2 and the list's own row, or undefined for an unknown or retired list (§13.1) */
async function readList(db: Knex, id: number): Promise<StatusArray | undefined> {
  const list = await db('status_lists')
    .where('id', id)
    .whereNull('retired_at')
    .first<{ bits: number; size: number } | undefined>('bits', 'size');
  if (!list || !isStatusBits(list.bits)) return undefined;
  const array = new StatusArray(list.bits, list.size);
  const set = await db('status_list_entries')
    .where('list_id', id)
    .whereNot('status', 0)
    .select<{ idx: number; status: number }[]>('idx', 'status');
  for (const e of set) if (e.idx < array.size) array.set(e.idx, e.status);
  return array;
}

export interface StatusListTokens {
  /** the signed Status List Token of list `id`, or undefined when there is no such list */
  token(id: number): Promise<string | undefined>;
  /** §9.3: the URIs of every list served (not retired) */
  uris(): Promise<string[]>;
}

export function statusListTokens(deps: StatusListServeDeps): StatusListTokens {
  const cache = new Map<number, { at: number; token: Promise<string | undefined> }>();
  let key: { kid: string | undefined; alg: string; key: Promise<CryptoKey | KeyObject | Uint8Array> } | undefined;

  const signer = () => {
    const { jwk, alg } = deps.signingKey();
    if (!key || key.kid !== jwk.kid || key.alg !== alg) key = { kid: jwk.kid, alg, key: importJWK(jwk, alg) };
    return key;
  };

  async function build(id: number): Promise<string | undefined> {
    const array = await readList(deps.db, id);
    if (!array) return undefined;
    const s = signer();
    const now = Math.floor(Date.now() / 1000);
    // §5.1: typ statuslist+jwt; sub = the uri of the Referenced Tokens; iat; exp; ttl (a positive number)
    return new SignJWT({ ttl: deps.ttlSeconds, status_list: encodeStatusList(array) })
      .setProtectedHeader({ alg: s.alg, typ: 'statuslist+jwt', ...(s.kid ? { kid: s.kid } : {}) })
      .setIssuer(deps.issuer)
      .setSubject(statusListUri(deps.issuer, id))
      .setIssuedAt(now)
      .setExpirationTime(now + deps.maxAgeSeconds)
      .sign(await s.key);
  }

  return {
    uris: async () =>
      (await deps.db('status_lists').whereNull('retired_at').orderBy('id').pluck<number[]>('id')).map((id) =>
        statusListUri(deps.issuer, Number(id)),
      ),
    token(id) {
      const now = Date.now();
      for (const [k, v] of cache) if (now - v.at >= CACHE_MS) cache.delete(k);
      const hit = cache.get(id);
      if (hit) return hit.token;
      // concurrent requests of this process share one read and one signature
      const token = build(id);
      cache.set(id, { at: now, token });
      token.catch(() => cache.delete(id));
      return token;
    },
  };
}
