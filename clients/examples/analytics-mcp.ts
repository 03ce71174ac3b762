/** Example: the analytics MCP server, the same kit on a second server (one tool, `analytics.query`). */
import type { Server } from 'node:http';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpAuth, mcpGuard, mcpMetadataRoute, type AuditEvent } from '../src/index.ts';

export function startAnalyticsMcp(opts: {
  issuer: string;
  port: number;
  audit: (e: AuditEvent) => void;
}): Promise<Server> {
  const kit = createMcpAuth({
    issuer: opts.issuer,
    resource: `http://127.0.0.1:${opts.port}/mcp`,
    resourceName: 'Analytics',
    scopesSupported: ['analytics.query'],
    scopes: { 'tools/call:query': 'analytics.query' },
    audit: opts.audit,
  });
  // the SDK's express app: DNS-rebinding protection (Host must be a loopback name, as this binds 127.0.0.1)
  const app = createMcpExpressApp({ host: '127.0.0.1' });
  app.use(mcpMetadataRoute(kit));
  app.post('/mcp', mcpGuard(kit), async (req, res) => {
    const server = new McpServer({ name: 'analytics', version: '1.0.0' });
    server.registerTool('query', { description: 'Run an analytics query' }, async () => ({
      content: [{ type: 'text', text: 'p99 latency 412 ms' }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return new Promise((ok) => {
    const s = app.listen(opts.port, '127.0.0.1', () => ok(s));
  });
}
