/**
 * Patch: a client_credentials request without `scope` gets the client's pre-defined default.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/actions/grants/client_credentials.js (the handler resolves the requested resources, calling
 * `features.resourceIndicators.getResourceServerInfo`, and only then reads `ctx.oidc.params.scope`
 * (validateClientScope), issuing the requested scopes the resource server allows, and none when `scope` is
 * absent).
 * Serves: RFC 6749 §3.3 (a missing scope is the pre-defined default, or the request fails); MCP
 * authorization 2026-07-28 §Scope Selection Strategy.
 * Test: default-requested-scope.test.ts.
 *
 * getResourceServerInfo (granted-scope.ts) calls this to set the parameter before it is read.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';

export function defaultRequestedScope(ctx: KoaContextWithOIDC, scope: string): void {
  (ctx.oidc.params as Record<string, unknown>).scope = scope;
}
