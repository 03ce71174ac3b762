/** The host's own koa middleware: request id, request logging, error boundary, headers, 404. */
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { offerScriptHashes, providerScriptHashes } from '../provider/internals.ts';

declare module 'koa' {
  interface DefaultState {
    log: Logger;
    reqId: string;
  }
}

/**
 * Pins scheme and host to the issuer's, whatever Host or X-Forwarded-* the client sent (no host-header
 * injection into discovery or redirects). X-Forwarded-For is honoured only behind a trusted proxy.
 */
export function canonicalOrigin(issuer: URL, trustProxy: boolean): Koa.Middleware {
  const proto = issuer.protocol.slice(0, -1);
  return async (ctx, next) => {
    const h = ctx.request.header;
    if (!trustProxy) delete h['x-forwarded-for'];
    h['x-forwarded-host'] = issuer.host;
    h['x-forwarded-proto'] = proto;
    await next();
  };
}

const SAFE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Every request gets an id (a sane incoming X-Request-Id is kept) echoed in the response and every log line.
 * The request's child logger is made on first use: most requests log nothing below the request line, and a
 * pino child (bindings serialised, redaction compiled in) costs more than the rest of this middleware.
 */
export function requestContext(root: Logger): Koa.Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const reqId = SAFE_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.reqId = reqId;
    let log: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', {
      get: () => (log ??= root.child({ reqId })),
      set: (value: Logger) => (log = value),
      enumerable: true,
      configurable: true,
    });
    ctx.set('X-Request-Id', reqId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      if (root.isLevelEnabled('info')) {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        // the path only: query strings can carry codes and tokens
        ctx.state.log.info(
          { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 },
          'http.request',
        );
      }
    }
  };
}

/**
 * Errors outside oidc-provider's own handler (our routes, the mount itself). Client faults (koa's
 * `expose`, status < 500) answer with OAuth-style JSON; anything else is logged and answers a generic
 * 500/503 `server_error`: never a stack trace, never the internal message.
 */
export function errorBoundary(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; statusCode?: number; expose?: boolean; message?: string };
      const status = e.status ?? e.statusCode ?? 500;
      if (status < 500 && e.expose) {
        ctx.status = status;
        ctx.body = { error: 'invalid_request', error_description: e.message };
        return;
      }
      ctx.state.log.error({ err }, 'http.unhandled_error');
      ctx.status = status === 503 ? 503 : 500;
      ctx.body = { error: 'server_error', error_description: 'the server could not complete the request' };
    } finally {
      if (ctx.status === 503) ctx.set('Retry-After', '5');
    }
  };
}

/** Baton's pages: nothing loads or runs but their own inline styles; nobody frames them. */
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

export function securityHeaders(issuer: URL): Koa.Middleware {
  const https = issuer.protocol === 'https:';
  return async (ctx, next) => {
    offerScriptHashes(ctx); // so oidc-provider can name the inline script of a page it submits by script
    try {
      await next();
    } finally {
      // also on error answers (the error boundary is outside this middleware)
      const scripts = providerScriptHashes(ctx);
      ctx.remove('Content-Security-Policy');
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      // RFC 6797: browsers reach an https issuer over TLS only, from the first answer on
      if (https) ctx.set('Strict-Transport-Security', 'max-age=31536000');
      if (ctx.type === 'text/html') {
        // no form-action: a consent form's POST ends in a redirect to the client's redirect URI (another
        // origin), and browsers apply form-action to that whole redirect chain (and a form_post page posts
        // there directly). The only scripts allowed are the fixed ones of the pages oidc-provider submits by
        // script (response_mode=form_post, its sign-out), each by its hash (CSP Level 3 §2.3.1).
        // a page that set its own, stricter policy (the admin console: http/admin-console/routes.ts) keeps it
        const own = (ctx.state as { csp?: unknown }).csp;
        ctx.set(
          'Content-Security-Policy',
          typeof own === 'string'
            ? own
            : scripts.length
              ? `${PAGE_POLICY}; script-src ${scripts.join(' ')}`
              : PAGE_POLICY,
        );
        ctx.set('X-Frame-Options', 'DENY');
      }
    }
  };
}

/** Unknown routes: 404 JSON (not koa's text/plain "Not Found"). */
export function notFound(): Koa.Middleware {
  return async (ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: `no route for ${ctx.method} ${ctx.path}` };
  };
}
