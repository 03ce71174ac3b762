/**
 * The demo's stand-in for a SaaS MCP server's own key check: in front of a third-party MCP server that
 * nobody here wrote (@modelcontextprotocol/server-everything), it takes a request only with an `X-API-Key`
 * it has issued (401 otherwise) and passes it on, streaming the answer back. It remembers which key each
 * request carried (by a short fingerprint, never the key), so the demo can show what the upstream saw.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';

/** a key's fingerprint as the demo prints it: the first 8 hex digits of its SHA-256 */
export const fingerprint = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 8);

export interface SharedKeyFront {
  server: Server;
  /** the keys it takes now: one, or two while a rotation is under way */
  keys: Set<string>;
  /** the fingerprint of the key of every request that reached it, and whether it was taken */
  seen: { key: string; taken: boolean }[];
}

const FORWARDED = ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];

export function startSharedKeyFront(opts: { port: number; upstream: string; keys: string[] }): Promise<SharedKeyFront> {
  const front: Omit<SharedKeyFront, 'server'> = { keys: new Set(opts.keys), seen: [] };
  const server = createServer((req, res) => {
    const key = String(req.headers['x-api-key'] ?? '');
    const taken = front.keys.has(key);
    front.seen.push({ key: key ? fingerprint(key) : '-', taken });
    if (!taken) {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
      return;
    }
    const headers = Object.fromEntries(
      FORWARDED.filter((h) => typeof req.headers[h] === 'string').map((h) => [h, req.headers[h] as string]),
    );
    request(opts.upstream, {
      method: req.method as 'POST' | 'GET' | 'DELETE',
      headers,
      body: req.method === 'POST' ? req : null,
    }).then(
      (up) => {
        res.writeHead(up.statusCode, up.headers as Record<string, string>);
        pipeline(up.body, res).catch(() => {}); // the caller may go away
      },
      () => res.headersSent || res.writeHead(502).end(),
    );
  });
  return new Promise((ok) => server.listen(opts.port, '127.0.0.1', () => ok({ ...front, server })));
}
