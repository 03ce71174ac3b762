/**
 * Patch: oidc-provider's refusal to introspect or revoke a JWT becomes the answer for an unknown token, so
 * that baton (provider/jwt-token-state.ts) can answer for its own JWT access tokens.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/shared/reject_structured_tokens.js (on the introspection and revocation endpoints, after
 * client authentication, a token whose JOSE header decodes is refused with 400 `unsupported_token_type`);
 * lib/actions/introspection.js and lib/actions/revocation.js (an unknown token gets `{active:false}` / 200).
 * Serves: RFC 7662 §2.2 (`active: false` for a token the server does not know or will not describe) and
 * RFC 7009 §2.2 (200 for an invalid token), before baton looks the JWT up.
 * Test: unsupported-token-type.test.ts.
 */

/** The status and body a middleware around oidc-provider sees after it answered. */
type Answer = { status: number; body: unknown };

/**
 * When oidc-provider answered 400 `unsupported_token_type` (a JWT), rewrites it in place to the answer for an
 * unknown token (introspection: 200 `{active:false}`, revocation: 200 with an empty body) and returns true.
 */
export function structuredTokenAsUnknown(ctx: Answer, introspection: boolean): boolean {
  const body = ctx.body as { error?: string } | undefined;
  if (ctx.status !== 400 || body?.error !== 'unsupported_token_type') return false;
  ctx.status = 200;
  if (introspection) ctx.body = { active: false };
  else ctx.body = '';
  return true;
}
