/** Revocation of a token and of every token exchanged from it (RFC 7009 + the token_lineage table). */
import type { JWTPayload } from 'jose';
import type { Knex } from 'knex';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { TtlCache } from './cache.ts';
import { markRevoked } from '../../status-list/entry.ts';

/** Every token exchanged from `jti`, directly or down the chain, with its expiry. */
async function descendantsOf(db: Knex, jti: string): Promise<{ jti: string; exp: number }[]> {
  const rows = await db
    .withRecursive('chain', (q) => {
      void q
        .select('jti', 'expires_at')
        .from('token_lineage')
        .where('parent_jti', jti)
        .unionAll((u) => {
          void u.select('l.jti', 'l.expires_at').from('token_lineage as l').join('chain as c', 'l.parent_jti', 'c.jti');
        });
    })
    .select<{ jti: string; expires_at: Date | string }[]>('jti', 'expires_at')
    .from('chain');
  return rows.map((d) => ({ jti: d.jti, exp: Math.floor(new Date(d.expires_at).getTime() / 1000) }));
}

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
  const all = [{ jti: String(payload.jti), exp: payload.exp! }, ...(await descendantsOf(deps.db, String(payload.jti)))];
  await Promise.all([
    ...all.filter((t) => t.exp > now).map((t) => deps.revoked.upsert(t.jti, { jti: t.jti }, t.exp - now + 60)),
    markRevoked(deps.db, { jtis: all.map((t) => t.jti) }),
  ]);
  for (const t of all) revokedCache.delete(t.jti); // this process sees it at once; others within STATE_CACHE_MS
  return all.length;
}
