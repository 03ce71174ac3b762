/**
 * CORS for client registration (RFC 7591 / RFC 7592), which oidc-provider serves without it: a browser-based
 * MCP client (MCP authorization §Dynamic Client Registration; the MCP Inspector, web agents) registers with
 * fetch from its own origin. Registration carries no ambient authority (no cookies; an initial access token
 * or a registration access token is sent by the script itself), so any origin may call it, without
 * credentials, as oidc-provider does for the token endpoint of public clients.
 */
import type Koa from 'koa';

const ALLOW_METHODS = 'GET, POST, PUT, DELETE';
const ALLOW_HEADERS = 'authorization, content-type';
const EXPOSE_HEADERS = 'WWW-Authenticate, Retry-After';

export function registrationCors(issuer: string): Koa.Middleware {
  const base = `${new URL(issuer).pathname.replace(/\/$/, '')}/reg`;
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    if ((ctx.path !== base && !ctx.path.startsWith(`${base}/`)) || !ctx.get('Origin')) return next();
    ctx.vary('Origin');
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method')) {
      ctx.status = 204;
      ctx.set('Access-Control-Allow-Origin', '*');
      ctx.set('Access-Control-Allow-Methods', ALLOW_METHODS);
      ctx.set('Access-Control-Allow-Headers', ALLOW_HEADERS);
      ctx.set('Access-Control-Max-Age', '3600');
      return;
    }
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    await next();
  };
}
