/** Verification of baton's own JWT access tokens (RFC 9068) against its keys, with a cache of verified tokens. */
import { jwtVerify, type JWTPayload, type createLocalJWKSet } from 'jose';

export interface OwnKeys {
  issuer: string;
  ownKeys: ReturnType<typeof createLocalJWKSet>;
}

/**
 * Verified tokens of this key set, by their exact text: an MCP server exchanges one inbound token for
 * every downstream hop, and a resource server introspects it on every call, so the signature check is
 * done once. An entry lasts until the token's exp (checked at every use) and at most VERIFIED_CACHE_MS;
 * a new key set builds a new provider and with it a new cache. Revocation is not cached here.
 */
export type VerifiedTokens = Map<string, { payload: JWTPayload; until: number }>;

/** How long, at most, a verified signature is trusted from the cache (see verifyOwn), and how many are kept. */
const VERIFIED_CACHE_MS = 5 * 60_000;
const VERIFIED_CACHE_ENTRIES = 5000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Signature, issuer, typ, expiry and the claims every baton access token carries; or why not. */
export async function verifyOwn(
  keys: OwnKeys,
  verified: VerifiedTokens,
  token: string,
): Promise<{ payload: JWTPayload } | { reason: string }> {
  const now = Date.now();
  const hit = verified.get(token);
  if (hit && hit.until > now && hit.payload.exp! * 1000 > now) return { payload: hit.payload };
  try {
    const { payload } = await jwtVerify(token, keys.ownKeys, {
      issuer: keys.issuer,
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
