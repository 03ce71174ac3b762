/**
 * The real MCP TypeScript SDK client completes the whole flow against a real SDK MCP server that trusts
 * baton: discovery from the MCP server's protected-resource metadata (RFC 9728), registration, PKCE,
 * sign-in and consent, token, then a tool call. Once with a Client ID Metadata Document (served by the test
 * over HTTPS on loopback, under the development flag and a test CA), once with DCR (RFC 7591).
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpAuth, mcpGuard, mcpMetadataRoute, type BatonAuthInfo } from '../../clients/src/index.ts';
import { memoryLogger, selfSignedCertificate, startTestServer, type TestServer } from './helpers.ts';
import { actionOf, csrfOf } from './pages.ts';

const AS_PORT = 9463;
const CIMD_PORT = 9464;
const MCP_PORT = 9466;
const ISSUER = `http://127.0.0.1:${AS_PORT}`;
const MCP_URL = `http://127.0.0.1:${MCP_PORT}/mcp`;
const CLIENT_ID_URL = `https://127.0.0.1:${CIMD_PORT}/agents/sdk-agent.json`;
const REDIRECT = 'http://127.0.0.1:9465/callback';

let baton: TestServer | undefined;
let cimdServer: HttpsServer;
let mcpServer: Server;
const logs = memoryLogger();

const clientMetadata: OAuthClientMetadata = {
  client_name: 'SDK agent',
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  application_type: 'native',
} as OAuthClientMetadata;

beforeAll(async () => {
  // a throwaway certificate for the CIMD document host, trusted by baton as an extra CA
  const tls = selfSignedCertificate();
  const cert = tls.cert;
  cimdServer = createHttpsServer({ key: tls.key, cert }, (req, res) => {
    if (req.url === '/agents/sdk-agent.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.end(JSON.stringify({ client_id: CLIENT_ID_URL, ...clientMetadata }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((ok) => cimdServer.listen(CIMD_PORT, '127.0.0.1', ok));

  baton = await startTestServer({
    backend: 'postgres+redis',
    port: AS_PORT,
    logs,
    config: (base) => ({
      mode: 'development',
      resources: [
        ...base.resources,
        { uri: MCP_URL, name: 'Logs (SDK MCP server)', scopes: ['logs.read', 'incidents.trigger'] },
      ],
      roles: { developer: ['logs.read'], sre: ['logs.read', 'incidents.trigger'] },
      clients: {
        static: base.clients.static,
        registration: { cimd: { allow_private_network: true, extra_ca: cert }, dcr: { mode: 'open' } },
      },
    }),
  });

  // a real SDK MCP server protected by baton's kit (clients/): PRM, token verification, per-tool scopes
  const kit = createMcpAuth({
    issuer: ISSUER,
    resource: MCP_URL,
    resourceName: 'Logs',
    scopesSupported: ['logs.read'],
    scopes: { 'tools/call:read_logs': 'logs.read' },
  });
  const app = express();
  app.use(mcpMetadataRoute(kit));
  const bearer = mcpGuard(kit);
  app.post('/mcp', express.json(), bearer, async (req, res) => {
    const server = new McpServer({ name: 'logs', version: '1.0.0' });
    server.registerTool('read_logs', { description: 'Read production logs' }, async (extra) => {
      // the kit hands the caller to tool handlers: user, IdP identity, client, actor chain, scopes
      const caller = (extra.authInfo as BatonAuthInfo | undefined)?.extra.caller;
      return { content: [{ type: 'text', text: `logs for ${caller?.subject} via ${caller?.actor}` }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => void transport.close());
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  mcpServer = await new Promise<Server>((ok) => {
    const s = app.listen(MCP_PORT, '127.0.0.1', () => ok(s));
  });
}, 60_000);
afterAll(async () => {
  await new Promise((ok) => mcpServer?.close(ok));
  await new Promise((ok) => cimdServer?.close(ok));
  await baton?.close();
});

/** An OAuthClientProvider whose "browser" is a supertest agent that signs Alice in and consents. */
class TestAuthProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  readonly clientMetadataUrl: string | undefined;
  constructor(clientMetadataUrl?: string) {
    this.clientMetadataUrl = clientMetadataUrl;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return clientMetadata;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** The person in the browser: sign in as Alice, allow, and hand back the code from the redirect. */
async function browser(url: URL): Promise<string> {
  const agent = request.agent(ISSUER);
  let res = await agent.get(url.pathname + url.search);
  for (let i = 0; i < 10; i++) {
    if (res.status === 303 || res.status === 302) {
      const to = res.headers.location!;
      if (to.startsWith(REDIRECT)) return new URL(to).searchParams.get('code')!;
      res = await agent.get(to.replace(ISSUER, ''));
      continue;
    }
    expect(res.status, res.text).toBe(200);
    if (res.text.includes('name="password"')) {
      res = await agent
        .post(actionOf(res.text))
        .type('form')
        .send({ csrf: csrfOf(res.text), username: 'alice', password: 'alice-password' });
    } else if (res.text.includes('value="allow"')) {
      expect(res.text).toContain('which returns to <strong>127.0.0.1:9465</strong>');
      res = await agent
        .post(actionOf(res.text))
        .type('form')
        .send({ csrf: csrfOf(res.text), decision: 'allow' });
    } else {
      throw new Error(`unexpected page: ${res.text.slice(0, 300)}`);
    }
  }
  throw new Error('no code');
}

async function connectAndCall(provider: TestAuthProvider) {
  const client = new Client({ name: 'sdk-agent', version: '1.0.0' });
  await expect(
    client.connect(new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider })),
  ).rejects.toBeInstanceOf(UnauthorizedError);
  expect(provider.authorizationUrl?.origin).toBe(ISSUER);
  expect(provider.authorizationUrl?.searchParams.get('resource')).toBe(MCP_URL);
  expect(provider.authorizationUrl?.searchParams.get('code_challenge_method')).toBe('S256');
  const code = await browser(provider.authorizationUrl!);
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider });
  await transport.finishAuth(code);
  await client.connect(transport);
  const result = await client.callTool({ name: 'read_logs', arguments: {} });
  await client.close();
  return result;
}

describe('the MCP SDK client against baton and an SDK MCP server', () => {
  it('with a Client ID Metadata Document', async () => {
    const provider = new TestAuthProvider(CLIENT_ID_URL);
    const result = await connectAndCall(provider);
    expect(provider.authorizationUrl?.searchParams.get('client_id')).toBe(CLIENT_ID_URL);
    expect(result.content).toEqual([
      {
        type: 'text',
        text: expect.stringMatching(
          new RegExp(`^logs for u_\\S+ via ${CLIENT_ID_URL.replaceAll('.', '\\.')}$`),
        ) as string,
      },
    ]);
    expect(provider.saved?.scope).toBe('logs.read');
  });

  it('with dynamic client registration', async () => {
    const provider = new TestAuthProvider();
    const result = await connectAndCall(provider);
    const clientId = provider.info?.client_id;
    expect(clientId).toMatch(/^[A-Za-z0-9_-]{10,}$/);
    expect(result.content).toEqual([{ type: 'text', text: expect.stringContaining(`via ${clientId}`) as string }]);
  });
});
