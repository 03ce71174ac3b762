/** The ids of the single-use records of what IdPs sign (ReplayDetection; adapters/STORAGE.md). */
import { createHash } from 'node:crypto';

/**
 * The single-use record's id for an ID-JAG (or, with another `tag`, another token an IdP signs: a logout
 * token): SHA-256 of the issuer and the jti, each prefixed with its length, so that no two (iss, jti) pairs
 * share an id whatever characters they hold, and every store can keep it (PostgreSQL text cannot hold
 * U+0000). The record never holds the raw jti. Tags: `idjag`, `logout` (idp/logout-token.ts), `gtr`
 * (idp/gtr-request.ts).
 */
export function replayKey(iss: string, jti: string, tag = 'idjag'): string {
  const hash = createHash('sha256');
  for (const part of [iss, jti]) hash.update(`${Buffer.byteLength(part)}:${part}`);
  return `${tag}.${hash.digest('base64url')}`;
}
