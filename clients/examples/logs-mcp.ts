/**
 * Example: the logs MCP server (MCP SDK over Streamable HTTP, express), protected by baton's kit in a few
 * lines: per-tool scopes, step-up, the caller in every handler, one audit event per call. Its
 * `cost_of_logs` tool calls the cost service on the user's behalf through an RFC 8693 exchange.
 */
import type { Server } from 'node:http';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  createExchanger,
  createMcpAuth,
  mcpGuard,
  mcpMetadataRoute,
  type AuditEvent,
  type BatonAuthInfo,
} from '../src/index.ts';

export function startLogsMcp(opts: {
  issuer: string;
  port: number;
  costUrl: string;
  clientSecret: string;
  audit: (e: AuditEvent) => void;
}): Promise<Server> {
  const resource = `http://127.0.0.1:${opts.port}/mcp`;
  const kit = createMcpAuth({
    issuer: opts.issuer,
    resource,
    resourceName: 'Production logs',
    scopesSupported: ['logs.read'],
    scopes: {
      'tools/call:read_logs': 'logs.read',
      'tools/call:cost_of_logs': 'logs.read',
      'tools/call:set_debug': 'logs.debug.write',
      'tools/call:trigger_incident': 'incidents.trigger',
    },
    audit: opts.audit,
  });
  const exchange = createExchanger({ issuer: opts.issuer, clientId: 'logs-mcp', clientSecret: opts.clientSecret });

  // the SDK's express app: DNS-rebinding protection (Host must be a loopback name, as this binds 127.0.0.1)
  const app = createMcpExpressApp({ host: '127.0.0.1' });
  app.use(mcpMetadataRoute(kit));
  app.post('/mcp', mcpGuard(kit), async (req, res) => {
    const server = new McpServer({ name: 'logs', version: '1.0.0' });
    const who = (extra: { authInfo?: unknown }) => (extra.authInfo as BatonAuthInfo).extra.caller;
    // tools/list shows only what this token may call; calling any other tool still meets the guard's 403
    const caller = (req as unknown as { auth: BatonAuthInfo }).auth.extra.caller;
    const offer = (name: string) => kit.mayCall(caller, name);
    if (offer('read_logs'))
      server.registerTool('read_logs', { description: 'Read production logs' }, async (extra) => ({
        content: [
          { type: 'text', text: `3 errors in checkout-service in the last hour (read for ${who(extra).idp?.sub})` },
        ],
      }));
    if (offer('set_debug'))
      server.registerTool('set_debug', { description: 'Turn on debug logging' }, async () => ({
        content: [{ type: 'text', text: 'debug logging on' }],
      }));
    if (offer('trigger_incident'))
      server.registerTool('trigger_incident', { description: 'Declare an incident' }, async (extra) => ({
        content: [{ type: 'text', text: `incident INC-42 declared by ${who(extra).idp?.sub}` }],
      }));
    server.registerTool(
      'cost_of_logs',
      { description: 'What the logs cost (asks the cost service)' },
      async (extra) => {
        const caller = who(extra);
        const hop = await exchange((extra.authInfo as BatonAuthInfo).token, opts.costUrl, 'cost.read');
        const answer = await fetch(`${opts.costUrl}/cost/logs`, {
          headers: { authorization: `Bearer ${hop.accessToken}` },
        });
        return {
          content: [{ type: 'text', text: `${await answer.text()} (for ${caller.idp?.sub})` }],
          _meta: { exchangedToken: hop.accessToken },
        };
      },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return new Promise((ok) => {
    const s = app.listen(opts.port, '127.0.0.1', () => ok(s));
  });
}
