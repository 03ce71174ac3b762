/**
 * Patch: `scopes_supported` in the discovery documents lists every scope baton issues.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/actions/discovery.js (`scopes_supported` is the configured `scopes`, a set fixed when the
 * provider is built; `discovery` config only fills keys it leaves out); lib/helpers/oidc_context.js
 * (`ctx.oidc.route` names the route, 'discovery' for both well-known documents).
 * Serves: RFC 8414 §2 `scopes_supported` (OIDC Discovery 1.0 §3 likewise).
 * Test: discovery-scopes.test.ts.
 *
 * baton's resource scopes come from the policy, which a SIGHUP reloads without rebuilding the provider: each
 * discovery answer gets them from the current policy.
 */
import type Koa from 'koa';

export function discoveryScopes(resourceScopes: () => string[]) {
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    await next();
    // the `oidc` context exists only on a request oidc-provider routed
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (route !== 'discovery' || ctx.status !== 200) return;
    const body = ctx.body as { scopes_supported?: string[] } | undefined;
    if (!body || typeof body !== 'object') return;
    body.scopes_supported = [...new Set([...(body.scopes_supported ?? []), ...resourceScopes()])];
  };
}
