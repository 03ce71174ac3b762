/**
 * The SaaS MCP server's own OAuth check, in front of @modelcontextprotocol/server-everything (test harness for
 * per-user credential brokering, issue #20): a node:http server on 127.0.0.1 that takes an MCP request only
 * with `Authorization: Bearer <access token>` (RFC 6750 §2.1) from the upstream authorization server
 * (upstream-as.ts): a JWT verified with jose against the AS's JWKS, with its `iss`, `exp`, the required scope
 * and, when the AS was given a resource (RFC 8707), `aud` equal to that resource. Otherwise it answers 401 with
 * `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1). Accepted requests are forwarded to
 * server-everything with undici and the answer piped back. Each request is recorded with the token's `sub`
 * and the SHA-256 fingerprint of the token, never the token.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { request as undiciRequest } from 'undici';

export interface FrontRecord {
  method: string;
  /** 200…: forwarded (server-everything's status); 401: refused */
  status: number;
  /** the verified token's `sub` (undefined when refused) */
  sub: string | undefined;
  /** hex SHA-256 of the bearer token as sent (undefined without one) */
  fingerprint: string | undefined;
  /** why it was refused (jose's error code or `missing_token`, `insufficient_scope`) */
  refused?: string;
}

export interface TokenFront {
  /** http://127.0.0.1:<port>/mcp */
  url: string;
  records: FrontRecord[];
  /** the claims of the last verified token */
  lastClaims: JWTPayload | undefined;
  close(): Promise<void>;
}

export const fingerprint = (token: string): string => createHash('sha256').update(token).digest('hex');

/** the request headers an MCP server needs (Streamable HTTP) */
const FORWARDED = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];

export async function startTokenFront(opts: {
  issuer: string;
  jwksUri: string;
  /** the scope a token must carry */
  scope: string;
  /** the `aud` a token must carry (the RFC 8707 resource); omitted: not checked */
  audience?: string;
  /** server-everything's Streamable HTTP endpoint, http://127.0.0.1:<port>/mcp */
  upstream: string;
  /** default: a free port */
  port?: number;
}): Promise<TokenFront> {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUri));
  const records: FrontRecord[] = [];
  const front: TokenFront = { url: '', records, lastClaims: undefined, close: () => Promise.resolve() };

  async function verify(req: IncomingMessage): Promise<JWTPayload | string> {
    // RFC 6750 §2.1: "Bearer" (case-insensitive scheme, RFC 9110 §11.1) then the token
    const m = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.headers.authorization ?? '');
    if (!m?.[1]) return 'missing_token';
    try {
      const { payload } = await jwtVerify(m[1], jwks, {
        issuer: opts.issuer,
        ...(opts.audience ? { audience: opts.audience } : {}),
        requiredClaims: ['exp', 'sub'],
      });
      // RFC 8693 §4.2 / RFC 9068 §2.2.3: `scope` is a space-separated list
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
      return scopes.includes(opts.scope) ? payload : 'insufficient_scope';
    } catch (err) {
      return (err as { code?: string }).code ?? 'invalid_token';
    }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      void verify(req).then((claims) => {
        const record: FrontRecord = {
          method: req.method ?? '',
          status: 401,
          sub: undefined,
          fingerprint: token ? fingerprint(token) : undefined,
        };
        records.push(record);
        if (typeof claims === 'string') {
          record.refused = claims;
          // RFC 6750 §3.1: invalid_token for an expired, revoked, malformed or otherwise invalid token;
          // insufficient_scope (403) for a valid token without the scope; no error code without a token
          if (claims === 'insufficient_scope') {
            record.status = 403;
            res.writeHead(403, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${opts.scope}"` });
          } else if (claims === 'missing_token') {
            res.writeHead(401, { 'www-authenticate': 'Bearer' });
          } else {
            res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
          }
          res.end();
          return;
        }
        record.sub = claims.sub;
        front.lastClaims = claims;
        const headers = Object.fromEntries(
          FORWARDED.filter((h) => req.headers[h] !== undefined).map((h) => [h, String(req.headers[h])]),
        );
        undiciRequest(opts.upstream, {
          method: req.method as 'POST',
          headers,
          ...(body.length ? { body } : {}),
        }).then(
          (up) => {
            record.status = up.statusCode;
            res.writeHead(up.statusCode, up.headers as Record<string, string>);
            pipeline(up.body, res).catch(() => {}); // the caller may go away
          },
          () => {
            record.status = 502;
            res.writeHead(502).end();
          },
        );
      });
    });
  });
  await new Promise<void>((ok) => server.listen(opts.port ?? 0, '127.0.0.1', ok));
  front.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  front.close = async () => {
    const closed = new Promise((ok) => server.close(ok));
    server.closeAllConnections();
    await closed;
  };
  return front;
}
