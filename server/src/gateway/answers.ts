/**
 * The gateway's own answers: JSON-RPC error objects (JSON-RPC 2.0 §5.1; MCP servers answer transport-level
 * failures this way, e.g. the MCP SDK's `-32000`), with the status and the headers that go with them.
 */
import type { ServerResponse } from 'node:http';

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** JSON-RPC 2.0 §5.1: a server error (-32000), or the given code (-32700 parse error, -32600 invalid request). */
export function rpcError(
  status: number,
  id: unknown,
  message: string,
  code = -32000,
  headers: Record<string, string> = {},
): Answer {
  const rpcId = typeof id === 'string' || typeof id === 'number' ? id : null;
  return { status, headers, body: { jsonrpc: '2.0', id: rpcId, error: { code, message } } };
}

export function send(res: ServerResponse, answer: Answer): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res
    .writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers })
    .end(JSON.stringify(answer.body));
}

/**
 * "Connect this account first" (issue #20) as MCP 2025-11-25 §Elicitation URL mode asks a server to say it
 * when a request cannot go on without the user visiting a URL: the JSON-RPC error -32042
 * (URLElicitationRequiredError) naming the elicitation, in an HTTP 200 answer (a JSON-RPC error, not a
 * transport failure: the MCP SDK client then raises UrlElicitationRequiredError with the URL). The URL is
 * baton's connect page; the upstream's own authorization request is only ever made from there.
 */
export function elicitConnect(id: unknown, url: string, gatewayId: string): Answer {
  const rpcId = typeof id === 'string' || typeof id === 'number' ? id : null;
  return {
    status: 200,
    headers: { 'cache-control': 'no-store' },
    body: {
      jsonrpc: '2.0',
      id: rpcId,
      error: {
        code: -32042,
        message: `Connect your account at ${gatewayId} first: open the link, sign in there, then try again`,
        data: {
          elicitations: [
            {
              mode: 'url',
              elicitationId: `connect-${gatewayId}`,
              url,
              message: `baton needs you to connect your ${gatewayId} account once; the agent never sees its tokens`,
            },
          ],
        },
      },
    },
  };
}
