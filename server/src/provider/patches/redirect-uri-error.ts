/**
 * Reliance (no rewrite): oidc-provider answers `invalid_redirect_uri` for a client metadata error whose
 * description starts with `redirect_uris`, and `invalid_client_metadata` for any other.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/helpers/errors.js (the InvalidClientMetadata constructor picks its code from the description's
 * first word); lib/actions/registration.js (an `extraClientMetadata.validator` error is the registration's
 * answer).
 * Serves: RFC 7591 §3.2.2 (`invalid_redirect_uri` for an invalid redirect URI, `invalid_client_metadata`
 * otherwise), saying what is wrong in `error_description`.
 * Test: redirect-uri-error.test.ts.
 */
import { errors } from 'oidc-provider';

/** The error for one invalid redirect URI: `invalid_redirect_uri`, described as `redirect_uris: <uri>: <problem>`. */
export const invalidRedirectUri = (uri: string, problem: string): Error =>
  new errors.InvalidClientMetadata(`redirect_uris: ${uri}: ${problem}`);
