/** Revocation of a token and of every token exchanged from it (RFC 7009 + the token_lineage table). */
import type { JWTPayload } from 'jose';
import type { Knex } from 'knex';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { TtlCache } from './cache.ts';
import { revokeDown } from '../../revocation/reach.ts';

/**
 * Revokes a token and, through the lineage, every token exchanged from it, each until its own expiry, and
 * sets each one's Token Status List entry to INVALID (draft-ietf-oauth-status-list-20 §7.1), so a verifier
 * reading the list refuses them too. Returns how many were revoked.
 */
export async function revoke(
  deps: { db: Knex; revoked: Adapter },
  revokedCache: TtlCache<boolean>,
  payload: JWTPayload,
): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  // the status bits first, hop by hop in one transaction (a token exchanged meanwhile is reached or born
  // revoked: revocation/reach.ts), then introspection's entries
  const all = await deps.db.transaction((trx) => revokeDown(trx, [{ jti: String(payload.jti), exp: payload.exp! }]));
  await Promise.all(
    all.filter((t) => t.exp > now).map((t) => deps.revoked.upsert(t.jti, { jti: t.jti }, t.exp - now + 60)),
  );
  for (const t of all) revokedCache.delete(t.jti); // this process sees it at once; others within STATE_CACHE_MS
  return all.length;
}
