/**
 * The ONLY module that imports oidc-provider internals (`oidc-provider/lib/*`), so that upgrading
 * oidc-provider means reading this file. Pinned to oidc-provider ~9.13 (package.json); types in
 * types/oidc-provider-internals.d.ts.
 */
import validateDpopInternal, {
  checkDpopReplay as checkDpopReplayInternal,
  type DPoPProof,
} from 'oidc-provider/lib/helpers/validate_dpop.js';
import { applySSRFProtection } from 'oidc-provider/lib/helpers/fetch_request.js';
import { errors } from 'oidc-provider';
import { createHash } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Adapter } from '../../../adapters/src/models.ts';

export type { DPoPProof };

/**
 * RFC 9449 §4.3: the request's DPoP proof (htm, htu, iat window, signature by the embedded key), or
 * undefined when the request carries none; its jti is then checked for replay (§11.1), as oidc-provider's
 * own grants do. Custom grants get no DPoP handling from oidc-provider: they call this.
 */
export async function dpopProof(
  provider: Provider,
  ctx: KoaContextWithOIDC,
  clientId: string,
): Promise<DPoPProof | undefined> {
  const proof = await validateDpopInternal(provider, ctx);
  if (proof) await checkDpopReplayInternal(provider, ctx, proof, clientId, errors.InvalidDpopProof);
  return proof;
}

/** oidc-provider 9.13's `error_detail` for a replayed DPoP proof (helpers/validate_dpop.js). */
const DPOP_REPLAY_DETAIL = 'DPoP proof JWT Replay detected';

/**
 * RFC 9449 §5: the token endpoint answers an invalid DPoP proof with `invalid_dpop_proof`, and a replayed
 * proof (§11.1) is an invalid one. oidc-provider 9.13's own grants (authorization_code, refresh_token,
 * client_credentials) answer a replay with `invalid_grant`; the error is rendered before `grant.error` is
 * emitted, synchronously, so this listener (registered before the log and metrics listeners) corrects the
 * body in place, and the error they see. Our custom grants throw
 * `invalid_dpop_proof` directly (`dpopProof` above).
 */
export function dpopReplayIsInvalidProof(provider: Provider): void {
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_detail?: string }) => {
    if (err.error !== 'invalid_grant' || err.error_detail !== DPOP_REPLAY_DETAIL) return;
    err.error = 'invalid_dpop_proof'; // for the listeners after this one (logs, metrics)
    ctx.status = 400;
    ctx.body = { error: 'invalid_dpop_proof', error_description: DPOP_REPLAY_DETAIL };
  });
}

type DispatcherCtor = new (options?: { connect?: { ca?: string } }) => object;

/**
 * The dispatcher for outgoing fetches (CIMD documents, client JWKS): Node's own undici Agent class (taken
 * from the global dispatcher, as oidc-provider does), trusting an extra CA when given, with oidc-provider's
 * SSRF guard (special-use addresses refused) unless `allowPrivateNetwork` (development only).
 */
export function outgoingDispatcher(opts: { ca?: string; allowPrivateNetwork: boolean }): object {
  const global = globalThis as unknown as Record<symbol, { constructor: DispatcherCtor } | undefined>;
  const Agent = (global[Symbol.for('undici.globalDispatcher.2')] ?? global[Symbol.for('undici.globalDispatcher.1')])
    ?.constructor;
  if (!Agent) throw new Error('no undici global dispatcher to derive an Agent from');
  const agent = new Agent(opts.ca ? { connect: { ca: opts.ca } } : {});
  return opts.allowPrivateNetwork ? agent : applySSRFProtection(agent);
}

/**
 * oidc-provider 9.13's `ReplayDetection.unique(iss, jti, exp)` (DPoP proof jti, RFC 9449 §11.1; client
 * assertion jti, RFC 7523 §3) is find-then-save: concurrent requests carrying one proof, on one process or
 * several, all find nothing and all pass. Replaced with one atomic claim on the shared store, so exactly
 * one request per (iss, jti) is accepted across every process. The record id is oidc-provider's own.
 */
export function atomicReplayDetection(provider: Provider, store: Adapter): void {
  const model = provider.ReplayDetection as unknown as {
    unique(iss: string, jti: string, exp: number): Promise<boolean>;
  };
  model.unique = async (iss, jti, exp) => {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000));
    return store.claim(id, { jti: id, iss, kind: 'ReplayDetection' }, ttl);
  };
}

/**
 * oidc-provider 9.13's client_credentials grant (actions/grants/client_credentials.js) resolves the resource
 * (calling getResourceServerInfo) and only then reads the request's `scope` parameter, issuing the requested
 * scopes the resource server allows, and none when `scope` is absent. To give a client without `scope` its
 * pre-defined default (RFC 6749 §3.3), getResourceServerInfo sets the parameter here, before it is read.
 */
export function defaultRequestedScope(ctx: KoaContextWithOIDC, scope: string): void {
  (ctx.oidc.params as Record<string, unknown>).scope = scope;
}
