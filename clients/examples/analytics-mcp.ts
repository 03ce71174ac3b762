/**
 * Example: the analytics MCP server, the same kit on a second server: `query` (analytics.query) and
 * `export_raw` (analytics.export, which no role of the development directory grants).
 * With its client secret (`analytics-mcp` at baton) it reports every call to baton's audit trail.
 * Run on its own against `npm start`'s baton: `node clients/examples/analytics-mcp.ts` serves
 * http://127.0.0.1:9402/mcp; BATON_ISSUER, PORT and ANALYTICS_MCP_SECRET override the development defaults.
 */
import type { Server } from 'node:http';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  createAuditReporter,
  createMcpAuth,
  mcpGuard,
  mcpMetadataRoute,
  type AuditEvent,
  type AuditReporter,
  type BatonAuthInfo,
} from '../src/index.ts';

export function startAnalyticsMcp(opts: {
  issuer: string;
  port: number;
  /** this server's client secret at baton (`analytics-mcp`), for reporting its calls to baton */
  clientSecret?: string;
  /** the reporter to baton's audit trail (default: one made from clientSecret; closed with the server) */
  reporter?: AuditReporter;
  audit: (e: AuditEvent) => void;
}): Promise<Server> {
  const reporter =
    opts.reporter ??
    (opts.clientSecret
      ? createAuditReporter({ issuer: opts.issuer, clientId: 'analytics-mcp', clientSecret: opts.clientSecret })
      : undefined);
  const kit = createMcpAuth({
    issuer: opts.issuer,
    resource: `http://127.0.0.1:${opts.port}/mcp`,
    resourceName: 'Analytics',
    scopesSupported: ['analytics.query'],
    scopes: { 'tools/call:query': 'analytics.query', 'tools/call:export_raw': 'analytics.export' },
    audit: opts.audit,
    ...(reporter ? { reporter } : {}),
  });
  // the SDK's express app: DNS-rebinding protection (Host must be a loopback name, as this binds 127.0.0.1)
  const app = createMcpExpressApp({ host: '127.0.0.1' });
  app.use(mcpMetadataRoute(kit));
  app.post('/mcp', mcpGuard(kit), async (req, res) => {
    const server = new McpServer({ name: 'analytics', version: '1.0.0' });
    // as in logs-mcp.ts: every tool is listed, the ones this token does not cover marked with their scope
    const caller = (req as unknown as { auth: BatonAuthInfo }).auth.extra.caller;
    const describe = (name: string, description: string) =>
      kit.mayCall(caller, name)
        ? description
        : `${description} (needs ${kit.requiredScopes('tools/call', name).join(' ')}: step up)`;
    server.registerTool('query', { description: describe('query', 'Run an analytics query') }, async () => ({
      content: [{ type: 'text', text: 'p99 latency 412 ms' }],
    }));
    server.registerTool('export_raw', { description: describe('export_raw', 'Export the raw events') }, async () => ({
      content: [{ type: 'text', text: 'export started' }],
    }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return new Promise((ok) => {
    const s = app.listen(opts.port, '127.0.0.1', () => ok(s));
    s.on('close', () => void reporter?.close());
  });
}

// `node clients/examples/analytics-mcp.ts`: on its own, against the development baton (npm start)
if (import.meta.main) {
  const port = Number(process.env.PORT ?? 9402);
  const issuer = process.env.BATON_ISSUER ?? 'http://127.0.0.1:9400';
  await startAnalyticsMcp({
    issuer,
    port,
    // development only: config/development.yaml's public secret for analytics-mcp
    clientSecret: process.env.ANALYTICS_MCP_SECRET ?? 'dev-only-analytics-mcp-secret-0123456789ab',
    audit: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
  });
  process.stdout.write(`analytics MCP server on http://127.0.0.1:${port}/mcp, trusting ${issuer}\n`);
}
