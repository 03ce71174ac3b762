/**
 * A token-injecting reverse proxy, so that the official MCP conformance suite's `server` runner (which does
 * no OAuth and sends no Authorization header) can reach an MCP server protected by baton's kit: every request
 * is forwarded to the target origin with `Authorization: Bearer <token>` added (any Authorization the runner
 * sent is replaced). The response, streams (SSE) included, is piped back unchanged. The proxy presents the
 * server under its own origin, so Host and Origin naming the proxy are rewritten to the server's; any other
 * Host or Origin passes unchanged, so the server's own checks (DNS-rebinding protection) still see it.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startTokenProxy(opts: {
  /** the MCP server's URL; its origin receives every request */
  target: string;
  token: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(opts.target);
  const server = createServer((req: IncomingMessage, res) => {
    const self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const headers = { ...req.headers, authorization: `Bearer ${opts.token}` };
    if (headers.host === self) headers.host = target.host;
    if (headers.origin === `http://${self}`) headers.origin = target.origin;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'bad_gateway' }));
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
