/**
 * The MCP kit for three hosts: express (what the MCP SDK's Streamable HTTP server uses), koa, and plain
 * node:http. Each serves the protected-resource metadata and guards the MCP endpoint; the caller reaches
 * SDK tool handlers as `extra.authInfo` (`{ token, clientId, scopes, expiresAt, extra: { caller } }`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import type { Caller } from './verify.ts';
import type { AuthRequest, McpAuth } from './mcp.ts';

/** The SDK's AuthInfo shape (server/auth/types.js), with baton's caller in `extra`. */
export interface BatonAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  resource: URL;
  extra: { caller: Caller };
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** What `authorize()` is given of a node:http request (also for hosts that route themselves, e.g. baton's gateway). */
export function authRequest(req: IncomingMessage, body: unknown, origin: string): AuthRequest {
  return {
    httpMethod: req.method ?? 'POST',
    url: `${origin}${(req.url ?? '/').split('?')[0]}`,
    authorization: header(req.headers.authorization),
    dpop: header(req.headers.dpop),
    mcpMethod: header(req.headers['mcp-method']),
    mcpName: header(req.headers['mcp-name']),
    origin: header(req.headers.origin),
    body,
  };
}

function authInfo(kit: McpAuth, caller: Caller, token: string): BatonAuthInfo {
  return {
    token,
    clientId: caller.clientId,
    scopes: caller.scopes,
    expiresAt: caller.expiresAt,
    resource: new URL(kit.metadata.resource),
    extra: { caller },
  };
}

/** express: `app.use(mcpMetadataRoute(kit)); app.post('/mcp', express.json(), mcpGuard(kit), handler)` */
export function mcpGuard(kit: McpAuth) {
  const origin = new URL(kit.metadata.resource).origin;
  return (
    req: IncomingMessage & { body?: unknown; auth?: BatonAuthInfo },
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void => {
    kit.authorize(authRequest(req, req.body, origin)).then((result) => {
      if (!result.ok) return sendJson(res, result.status, result.body, result.headers);
      req.auth = authInfo(kit, result.caller, result.token);
      next();
    }, next);
  };
}

/**
 * express and node:http: serves the RFC 9728 metadata (readable from any origin), answers CORS preflights at
 * the MCP endpoint, and adds the CORS headers for allowed browser origins to what the endpoint answers.
 */
export function mcpMetadataRoute(kit: McpAuth) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === kit.metadataPath) {
      return sendJson(res, 200, kit.metadata, { 'access-control-allow-origin': '*' });
    }
    if (path === kit.resourcePath) {
      const origin = header(req.headers.origin);
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
        const { status, headers } = kit.preflight(origin);
        res.writeHead(status, headers).end();
        return;
      }
      for (const [name, value] of Object.entries(kit.corsHeaders(origin))) res.setHeader(name, value);
    }
    next();
  };
}

/** koa: `app.use(mcpKoa(kit, '/mcp'))` after a JSON body parser; sets ctx.state.auth. */
export function mcpKoa(kit: McpAuth, mcpPath: string): Koa.Middleware {
  const origin = new URL(kit.metadata.resource).origin;
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === kit.metadataPath) {
      ctx.set('access-control-allow-origin', '*');
      ctx.body = kit.metadata;
      return;
    }
    if (ctx.path !== mcpPath) {
      await next();
      return;
    }
    const browser = ctx.get('Origin') || undefined;
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method')) {
      const { status, headers } = kit.preflight(browser);
      ctx.status = status;
      ctx.set(headers);
      return;
    }
    ctx.set(kit.corsHeaders(browser));
    const result = await kit.authorize(authRequest(ctx.req, (ctx.request as { body?: unknown }).body, origin));
    if (!result.ok) {
      ctx.status = result.status;
      ctx.set(result.headers);
      ctx.body = result.body;
      return;
    }
    ctx.state.auth = authInfo(kit, result.caller, result.token);
    (ctx.req as IncomingMessage & { auth?: BatonAuthInfo }).auth = ctx.state.auth as BatonAuthInfo;
    await next();
  };
}

/** node:http: `createServer(withMcpAuth(kit, '/mcp', (req, res, body) => transport.handleRequest(req, res, body)))` */
export function withMcpAuth(
  kit: McpAuth,
  mcpPath: string,
  handler: (
    req: IncomingMessage & { auth?: BatonAuthInfo },
    res: ServerResponse,
    body: unknown,
  ) => void | Promise<void>,
) {
  const origin = new URL(kit.metadata.resource).origin;
  const metadata = mcpMetadataRoute(kit);
  return (req: IncomingMessage & { auth?: BatonAuthInfo }, res: ServerResponse): void => {
    let served = true;
    metadata(req, res, () => (served = false));
    if (served) return;
    const path = (req.url ?? '/').split('?')[0];
    if (path !== mcpPath) {
      return sendJson(res, 404, { error: 'not_found' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 4 * 1024 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      }
      kit
        .authorize(authRequest(req, body, origin))
        .then(async (result) => {
          if (!result.ok) return sendJson(res, result.status, result.body, result.headers);
          req.auth = authInfo(kit, result.caller, result.token);
          await handler(req, res, body);
        })
        .catch(() => {
          // a failing handler must not become an unhandled rejection (which ends the process)
          if (!res.headersSent)
            sendJson(res, 500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } });
          else res.destroy();
        });
    });
  };
}
