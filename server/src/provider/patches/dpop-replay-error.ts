/**
 * Patch: a replayed DPoP proof at the token endpoint is `invalid_dpop_proof`, not `invalid_grant`.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/helpers/validate_dpop.js (checkDpopReplay throws its ErrorClass, InvalidGrant by default, with
 * the detail 'DPoP proof JWT Replay detected'; the authorization_code, refresh_token and client_credentials
 * grants call it with the default); lib/shared/error_handler.js (the error is rendered before `grant.error` is
 * emitted, synchronously).
 * Serves: RFC 9449 §5 (the token endpoint answers an invalid proof with `invalid_dpop_proof`) and §11.1 (a
 * replayed proof is an invalid one).
 * Test: dpop-replay-error.test.ts.
 *
 * A `grant.error` listener, registered before the log and metrics listeners: it corrects the body in place,
 * and the error they see. baton's custom grants throw `invalid_dpop_proof` directly (internals.ts dpopProof).
 */
import type { ErrorCorrection } from './client-error-codes.ts';

/** oidc-provider 9.13's `error_detail` for a replayed DPoP proof (helpers/validate_dpop.js). */
export const DPOP_REPLAY_DETAIL = 'DPoP proof JWT Replay detected';

const correct: ErrorCorrection = (ctx, err) => {
  if (err.error !== 'invalid_grant' || err.error_detail !== DPOP_REPLAY_DETAIL) return;
  err.error = 'invalid_dpop_proof'; // for the listeners after this one (logs, metrics)
  ctx.status = 400;
  ctx.body = { error: 'invalid_dpop_proof', error_description: DPOP_REPLAY_DETAIL };
};

export const dpopReplayIsInvalidProof: readonly [event: string, listener: ErrorCorrection] = ['grant.error', correct];
