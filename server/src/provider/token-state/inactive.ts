/**
 * Why a verified access token is no longer active (RFC 7662 §2.2 `active: false`): a client of its actor
 * chain is blocked, its jti is revoked, the grant it descends from (`gid`) is gone, or its user's account
 * is disabled.
 */
import type { JWTPayload } from 'jose';

/** The state a token's activity depends on (token-state.ts backs them with storage and TtlCaches). */
export interface StateLookups {
  isBlocked(clientId: string): boolean;
  /** `exchanged`: the token came from a token exchange (it has `act`), and may have been born revoked */
  isRevoked(jti: string, exchanged: boolean): Promise<boolean>;
  grantExists(gid: string): Promise<boolean>;
  accountEnabled(sub: string): Promise<boolean>;
}

/** The client the token was issued to, then every actor of its `act` chain (RFC 8693 §4.1), outermost first. */
export function actorChain(payload: JWTPayload): string[] {
  const chain: string[] = [String(payload.client_id)];
  for (
    let a = payload.act as { sub?: unknown; act?: unknown } | undefined;
    a && typeof a === 'object';
    a = a.act as typeof a
  ) {
    if (typeof a.sub === 'string') chain.push(a.sub);
  }
  return chain;
}

/** Why a verified token is no longer active, or undefined when it is. */
export async function inactiveReason(lookups: StateLookups, payload: JWTPayload): Promise<string | undefined> {
  const gid = typeof payload.gid === 'string' ? payload.gid : undefined;
  const blocked = actorChain(payload).find((id) => lookups.isBlocked(id));
  if (blocked) return `client ${blocked} blocked`;
  const jti = String(payload.jti);
  const sub = String(payload.sub);
  const [revoked, grant, enabled] = await Promise.all([
    lookups.isRevoked(jti, payload.act !== undefined),
    gid ? lookups.grantExists(gid) : Promise.resolve(true),
    payload.idp ? lookups.accountEnabled(sub) : Promise.resolve(true),
  ]);
  if (revoked) return 'token revoked';
  if (!grant) return `grant ${gid} revoked`;
  if (!enabled) return 'account disabled';
  return undefined;
}
