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
