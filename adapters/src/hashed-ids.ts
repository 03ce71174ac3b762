/**
 * Bearer credentials are not stored as themselves. For the models whose id IS the credential a client
 * presents (an opaque refresh token, authorization code, access token, registration or initial access
 * token), the record is kept under SHA-256 of the id, and the payload without its `jti` (oidc-provider
 * sets jti = id); `find` restores it from the id it was asked for. Someone who reads the database or Redis
 * (a backup, a replica, a dump) learns no usable token (RFC 6819 §5.1.4.1.3: store hashes of tokens;
 * RFC 9700 §4.14 refresh token protection). Lookups stay one exact-key read.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from './models.ts';

/** Models looked up only by id, where the id is the bearer credential itself. */
export const HASHED_ID_MODELS: ReadonlySet<string> = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'AccessToken',
  'ClientCredentials',
  'RegistrationAccessToken',
  'InitialAccessToken',
]);

export function hashedId(id: string): string {
  return `sha256.${createHash('sha256').update(id).digest('base64url')}`;
}

export function withHashedIds(inner: Adapter): Adapter {
  const strip = (id: string, payload: AdapterPayload): AdapterPayload => {
    if (payload.jti !== id) return payload;
    const { jti: _jti, ...rest } = payload;
    return rest;
  };
  return {
    upsert: (id, payload, expiresIn) => inner.upsert(hashedId(id), strip(id, payload), expiresIn),
    async find(id) {
      const payload = await inner.find(hashedId(id));
      return payload ? { ...payload, jti: id } : undefined;
    },
    // not used by these models (no user codes, no uids); passed through for the contract's sake
    findByUserCode: (userCode) => inner.findByUserCode(userCode),
    findByUid: (uid) => inner.findByUid(uid),
    consume: (id) => inner.consume(hashedId(id)),
    destroy: (id) => inner.destroy(hashedId(id)),
    revokeByGrantId: (grantId) => inner.revokeByGrantId(grantId),
    claim: (id, payload, expiresIn) => inner.claim(hashedId(id), strip(id, payload), expiresIn),
  };
}
