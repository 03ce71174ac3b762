/**
 * The actor_token of a token exchange (RFC 8693 §2.1), when sent: baton's own token of the authenticated
 * client (it proves nothing more than client authentication did), or a JWT the client signed with its own
 * key (its jwks_uri) naming a workload it vouches for, allowed by `delegation[].workloads`. The workload then
 * becomes the current actor (RFC 8693 §4.1 allows more than the client id in `act.sub`).
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE } from '../../../consts.ts';
import { refusal } from '../../refusals.ts';
import type { GrantDeps } from '../deps.ts';
import { oneString } from '../../../params.ts';

/** a workload token is short-lived: older than this, it is refused */
const WORKLOAD_TOKEN_MAX_AGE = '5m';

/** Returns the workload that becomes the current actor, or undefined (the client itself acts). */
export async function verifyActorToken(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  actorId: string,
): Promise<string | undefined> {
  const { actor_token: token, actor_token_type: type } = ctx.oidc.params as Record<string, unknown>;
  if (token === undefined && type === undefined) return undefined;
  if (!oneString(token) || !oneString(type))
    throw refusal('actor_token_incomplete', 'actor_token_type without actor_token or the reverse');
  if (type !== ACCESS_TOKEN_TYPE && type !== JWT_TOKEN_TYPE)
    throw refusal('actor_token_type_unsupported', `actor_token_type ${String(type)}`);
  let iss: string | undefined;
  try {
    iss = decodeJwt(String(token)).iss;
  } catch {
    throw refusal('actor_token_invalid', 'actor_token is not a JWT');
  }
  try {
    if (iss === deps.config.issuer) {
      await ownToken(deps, String(token), actorId);
      return undefined;
    }
    return await workloadToken(ctx, deps, String(token), iss, actorId);
  } catch (err) {
    throw refusal('actor_token_invalid', `actor_token: ${(err as Error).message}`);
  }
}

async function ownToken(deps: GrantDeps, token: string, actorId: string): Promise<void> {
  const { payload } = await jwtVerify(token, deps.ownKeys, { issuer: deps.config.issuer, typ: 'at+jwt' });
  if (payload.client_id !== actorId || payload.sub !== actorId)
    throw new Error(`actor_token is for ${String(payload.client_id)}`);
}

async function workloadToken(
  ctx: KoaContextWithOIDC,
  deps: GrantDeps,
  token: string,
  iss: string | undefined,
  actorId: string,
): Promise<string> {
  if (iss !== actorId) throw new Error(`actor_token issuer ${String(iss)} is neither baton nor the client`);
  const client = await ctx.oidc.provider.Client.find(actorId);
  const jwksUri = client?.jwksUri;
  if (!jwksUri) throw new Error('the client has no jwks_uri to verify a workload token');
  let keys = deps.cache.workloadKeys.get(jwksUri);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    deps.cache.workloadKeys.set(jwksUri, keys);
  }
  const { payload } = await jwtVerify(token, keys, {
    issuer: actorId,
    audience: deps.config.issuer,
    requiredClaims: ['sub', 'exp'],
    maxTokenAge: WORKLOAD_TOKEN_MAX_AGE,
  });
  const workload = String(payload.sub);
  if (!deps.policy().vouchesFor(actorId, workload))
    throw new Error(`workload ${workload} is not in delegation[].workloads for ${actorId}`);
  return workload;
}
