import type { Policy } from '../policy/policy.ts';
import { splitScope, stringList } from '../params.ts';

/**
 * MCP authorization 2026-07-28 §Scope Selection Strategy: a client may omit `scope` (when the protected
 * resource metadata lists none). An authorization request naming a known resource but none of its scopes
 * asks for all of them; the user's roles then decide what is granted (oidc-provider would otherwise
 * answer access_denied "no scope was granted").
 */
export function defaultScopeForResource(policy: () => Policy) {
  return async (ctx: { path: string; method: string; query: Record<string, unknown> }, next: () => Promise<void>) => {
    if (ctx.method === 'GET' && ctx.path === '/auth') {
      const known = stringList(ctx.query.resource)
        .map((r) => policy().resources.get(r))
        .filter((r) => r !== undefined);
      const requested = splitScope(ctx.query.scope);
      if (known.length > 0 && !known.some((r) => r.scopes.some((s) => requested.includes(s)))) {
        const all = known.flatMap((r) => r.scopes);
        ctx.query = { ...ctx.query, scope: [...new Set([...requested, ...all])].join(' ') };
      }
    }
    await next();
  };
}
