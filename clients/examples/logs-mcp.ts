/**
 * Example: the logs MCP server (MCP SDK over Streamable HTTP, express), protected by baton's kit in a few
 * lines: per-tool scopes, step-up, the caller in every handler, one audit event per call (printed, and, with
 * its client secret, reported to baton's audit trail). Its `cost_of_logs` tool calls the cost service on the
 * user's behalf through an RFC 8693 exchange.
 *
 * Run on its own against `npm start`'s baton (config/development.yaml): `node clients/examples/logs-mcp.ts`
 * serves http://127.0.0.1:9401/mcp; BATON_ISSUER, PORT, COST_URL and LOGS_MCP_SECRET override the
 * development defaults. The cost service is optional: without it, only `cost_of_logs` fails.
 */
import type { Server } from 'node:http';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  createAuditReporter,
  createExchanger,
  createMcpAuth,
  mcpGuard,
  mcpMetadataRoute,
  type AuditEvent,
  type AuditReporter,
  type BatonAuthInfo,
} from '../src/index.ts';

export interface LogsMcpOptions {
  issuer: string;
  port: number;
  /** the cost service `cost_of_logs` asks (optional: without it only that tool fails) */
  costUrl?: string;
  /** this server's client secret at baton (`logs-mcp`), for the exchange and for reporting its calls to baton */
  clientSecret?: string;
  /** the reporter to baton's audit trail (default: one made from clientSecret; closed with the server) */
  reporter?: AuditReporter;
  audit: (e: AuditEvent) => void;
}

/** what each tool needs; tools/list shows the others too, marked as needing a step-up */
const TOOLS: Record<string, { description: string; scope: string }> = {
  read_logs: { description: 'Read production logs', scope: 'logs.read' },
  cost_of_logs: { description: 'What the logs cost (asks the cost service)', scope: 'logs.read' },
  set_debug: { description: 'Turn on debug logging', scope: 'logs.debug.write' },
  trigger_incident: { description: 'Declare an incident', scope: 'incidents.trigger' },
};

export function startLogsMcp(opts: LogsMcpOptions): Promise<Server> {
  const resource = `http://127.0.0.1:${opts.port}/mcp`;
  const { costUrl, clientSecret } = opts;
  // baton's audit trail: every call, allowed or denied, batched and never slowing a call (clients/README.md)
  const reporter =
    opts.reporter ??
    (clientSecret ? createAuditReporter({ issuer: opts.issuer, clientId: 'logs-mcp', clientSecret }) : undefined);
  const kit = createMcpAuth({
    issuer: opts.issuer,
    resource,
    resourceName: 'Production logs',
    scopesSupported: ['logs.read'],
    scopes: Object.fromEntries(Object.entries(TOOLS).map(([name, t]) => [`tools/call:${name}`, t.scope])),
    audit: opts.audit,
    ...(reporter ? { reporter } : {}),
  });
  const exchange =
    costUrl && clientSecret ? createExchanger({ issuer: opts.issuer, clientId: 'logs-mcp', clientSecret }) : undefined;

  // the SDK's express app: DNS-rebinding protection (Host must be a loopback name, as this binds 127.0.0.1)
  const app = createMcpExpressApp({ host: '127.0.0.1' });
  app.use(mcpMetadataRoute(kit));
  app.post('/mcp', mcpGuard(kit), async (req, res) => {
    const server = new McpServer({ name: 'logs', version: '1.0.0' });
    const who = (extra: { authInfo?: unknown }) => (extra.authInfo as BatonAuthInfo).extra.caller;
    // tools/list offers every tool: those this token may call as they are, the others marked with the scope
    // they need, so that a client knows which call will ask it to step up (the guard answers such a call
    // with 403 insufficient_scope; baton grants the step-up only if the user's roles allow it)
    const caller = (req as unknown as { auth: BatonAuthInfo }).auth.extra.caller;
    const describe = (name: string) =>
      kit.mayCall(caller, name)
        ? TOOLS[name]!.description
        : `${TOOLS[name]!.description} (needs ${TOOLS[name]!.scope}: step up)`;
    server.registerTool('read_logs', { description: describe('read_logs') }, async (extra) => ({
      content: [
        { type: 'text', text: `3 errors in checkout-service in the last hour (read for ${who(extra).idp?.sub})` },
      ],
    }));
    server.registerTool('set_debug', { description: describe('set_debug') }, async () => ({
      content: [{ type: 'text', text: 'debug logging on' }],
    }));
    server.registerTool('trigger_incident', { description: describe('trigger_incident') }, async (extra) => ({
      content: [{ type: 'text', text: `incident INC-42 declared by ${who(extra).idp?.sub}` }],
    }));
    server.registerTool('cost_of_logs', { description: describe('cost_of_logs') }, async (extra) => {
      const caller = who(extra);
      if (!costUrl || !exchange)
        return { content: [{ type: 'text', text: 'no cost service is configured (COST_URL)' }], isError: true };
      const hop = await exchange((extra.authInfo as BatonAuthInfo).token, costUrl, 'cost.read');
      const answer = await fetch(`${costUrl}/cost/logs`, {
        headers: { authorization: `Bearer ${hop.accessToken}` },
      });
      return {
        content: [{ type: 'text', text: `${await answer.text()} (for ${caller.idp?.sub})` }],
        _meta: { exchangedToken: hop.accessToken },
      };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return new Promise((ok) => {
    const s = app.listen(opts.port, '127.0.0.1', () => ok(s));
    // what is still buffered goes to baton when the server closes (within the reporter's bound)
    s.on('close', () => void reporter?.close());
  });
}

// `node clients/examples/logs-mcp.ts`: on its own, against the development baton (npm start)
if (import.meta.main) {
  const env = process.env;
  const port = Number(env.PORT ?? 9401);
  const issuer = env.BATON_ISSUER ?? 'http://127.0.0.1:9400';
  await startLogsMcp({
    issuer,
    port,
    costUrl: env.COST_URL ?? 'http://127.0.0.1:9403',
    // development only: config/development.yaml's public secret for logs-mcp
    clientSecret: env.LOGS_MCP_SECRET ?? 'dev-only-logs-mcp-secret-0123456789abcdef',
    audit: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
  });
  process.stdout.write(`logs MCP server on http://127.0.0.1:${port}/mcp, trusting ${issuer}\n`);
}
