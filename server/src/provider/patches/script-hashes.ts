/**
 * Reliance and patch: the Content-Security-Policy of the pages oidc-provider submits by script.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/response_modes/form_post.js (`response_mode=form_post`, also used for the sign-out it posts
 * when another account signs in on the browser, lib/actions/authorization/resume.js, and when /session/end
 * finds no signed-in account, lib/actions/end_session.js) renders one fixed inline script, and
 * lib/helpers/script_src_sha.js adds that script's `'sha256-…'` hash-source (sha256, base64, of the exact text
 * it emits) to the `script-src` of the response's Content-Security-Policy, only when a policy with a
 * `script-src` directive is already on the response as the page renders.
 * Serves: CSP Level 3 §2.3.1 hash-source; OAuth 2.0 Form Post Response Mode; RFC 9700 §4.16 (pages that
 * allow no other script).
 * Test: script-hashes.test.ts.
 *
 * `offerScriptHashes` sets that directive, empty (no script allowed), before oidc-provider runs;
 * `providerScriptHashes` reads back the hashes it added, so the policy baton sends allows exactly those
 * scripts and nothing else (no nonce: oidc-provider's form_post template takes none).
 */

/** The response header oidc-provider 9.13 reads and rewrites for its inline scripts. */
const CSP = 'Content-Security-Policy';
/** a CSP Level 3 §2.3.1 hash-source, as oidc-provider writes it (sha256, base64) */
const SHA256_SOURCE = /^'sha256-[A-Za-z0-9+/]+={0,2}'$/;

export function offerScriptHashes(ctx: { set(field: string, value: string): void }): void {
  ctx.set(CSP, 'script-src');
}

export function providerScriptHashes(ctx: { response: { get(field: string): string } }): string[] {
  const directive = ctx.response
    .get(CSP)
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find(([name]) => name === 'script-src');
  return (directive?.slice(1) ?? []).filter((source) => SHA256_SOURCE.test(source));
}
