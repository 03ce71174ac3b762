/**
 * Patch: RFC 6749 §5.2 error codes where oidc-provider answers `invalid_request`.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/actions/token.js (allowedGrantTypeCheck throws InvalidRequest 'requested grant type is not
 * allowed for this client'); lib/shared/client_auth.js (authenticateClient throws InvalidRequest 'no client
 * authentication mechanism provided' on the token, introspection, revocation and PAR endpoints);
 * lib/shared/error_handler.js (the error is rendered into ctx.body BEFORE `<route>.error` is emitted,
 * synchronously, so a listener can still change the answer).
 * Serves: RFC 6749 §5.2 (`unauthorized_client`; `invalid_client` as 401 with a challenge naming the scheme),
 * RFC 7662 §2.3, RFC 7009 §2.1, RFC 9126 §2 (the same client authentication rule on those endpoints).
 * Test: client-error-codes.test.ts.
 *
 * These are event listeners: they must be registered before the log and metrics listeners, so the log, the
 * metrics and the wire say the same code. oidc-provider's text is kept as the internal `error_detail`.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';

/** oidc-provider 9.13's descriptions of the two errors it answers as `invalid_request` */
export const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';
export const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';

/** the endpoints whose callers must authenticate as a client, by the event their errors are emitted as */
export const CLIENT_AUTHENTICATED_EVENTS = [
  'grant.error',
  'introspection.error',
  'revocation.error',
  'pushed_authorization_request.error',
] as const;

/** The fields of an oidc-provider error (helpers/errors.js) a correction reads or rewrites. */
export type ProviderError = {
  error?: string;
  message?: string;
  error_description?: string;
  error_detail?: string;
  status?: number;
  statusCode?: number;
};

/** A listener of a provider `*.error` event that corrects the rendered answer and the error in place. */
export type ErrorCorrection = (ctx: KoaContextWithOIDC, err: ProviderError) => void;

function correct(event: string): ErrorCorrection {
  return (ctx, err) => {
    if (err.error !== 'invalid_request') return;
    if (event === 'grant.error' && err.error_description === GRANT_TYPE_NOT_ALLOWED) {
      // RFC 6749 §5.2 unauthorized_client: the client may not use this grant type
      err.error = err.message = 'unauthorized_client';
      err.error_detail ??= `grant_type ${String(ctx.oidc.params?.grant_type)} is not registered for this client`;
      ctx.body = { error: err.error, error_description: GRANT_TYPE_NOT_ALLOWED };
    } else if (err.error_description === NO_CLIENT_AUTHENTICATION) {
      // RFC 6749 §5.2 invalid_client: 401 with a Basic challenge naming the issuer as realm
      err.error = err.message = 'invalid_client';
      err.status = err.statusCode = 401;
      err.error_description = 'client authentication is required';
      err.error_detail ??= NO_CLIENT_AUTHENTICATION;
      ctx.status = 401;
      ctx.body = { error: err.error, error_description: err.error_description };
      ctx.set('WWW-Authenticate', `Basic realm="${ctx.oidc.provider.issuer}"`);
    }
  };
}

/** [event, listener] pairs, one per client-authenticated endpoint. */
export const clientErrorCodes: ReadonlyArray<readonly [event: string, listener: ErrorCorrection]> =
  CLIENT_AUTHENTICATED_EVENTS.map((event) => [event, correct(event)] as const);
