/**
 * Reliance: oidc-provider matches a loopback redirect URI on any port only for a native client.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/models/client.js (`#redirectAllowed`, behind `redirectUriAllowed` and
 * `postLogoutRedirectUriAllowed`: an exact match, or, when `applicationType` is 'native', the same loopback
 * URI with any port).
 * Serves: RFC 8252 §7.3 (a loopback redirect URI matches whatever port the native app listens on); OAuth 2.1
 * §8.4.2.
 * Test: loopback-redirect-port.test.ts.
 */

/** Makes registered or fetched client metadata match its loopback redirects on any port (application_type). */
export function anyLoopbackPort(metadata: Record<string, unknown>): void {
  metadata.application_type = 'native';
}
