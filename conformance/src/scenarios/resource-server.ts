/**
 * Scenarios: the resource-server side of MCP authorization, through an MCP server protected by the clients/
 * kit (the fixture's `mcpServer`): RFC 9728 metadata naming this issuer, the 401 challenge, audience
 * binding, scopes with step-up, and no tokens in query strings.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { assert, codeForm, userTokens, type Context, type Scenario } from '../context.ts';
import { proof, proofKey, type ProofKey } from './dpop.ts';

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'baton-conformance', version: '1' } },
};

/** A JSON-RPC POST to the MCP endpoint, as the Streamable HTTP transport sends it. */
function post(ctx: Context, body: unknown, headers: Record<string, string> = {}, url = ctx.fixture.mcpServer!.url) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/** A sign-in with dpop_jkt and its code redeemed with a proof: an access token for the MCP server bound to `key`. */
async function dpopBoundMcpToken(ctx: Context): Promise<{ key: ProofKey; token: string }> {
  const url = ctx.fixture.mcpServer!.url;
  const key = await proofKey();
  const { code, verifier } = await ctx.signIn({
    resource: url,
    scope: ctx.fixture.mcpServer!.scope,
    dpop_jkt: await calculateJwkThumbprint(key.jwk),
  });
  const issued = await ctx.form('token', codeForm(ctx, code, verifier, { resource: url }), undefined, {
    DPoP: await proof(key, { htu: String(ctx.metadata.token_endpoint) }),
  });
  assert(issued.status === 200 && issued.body.token_type === 'DPoP', `token: HTTP ${issued.status}`);
  return { key, token: String(issued.body.access_token) };
}

/** The protected resource metadata URL of an MCP endpoint (RFC 9728 §3.1: inserted before the path). */
const metadataUrl = (endpoint: string) => {
  const u = new URL(endpoint);
  return `${u.origin}/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
};

const mcpToken = async (ctx: Context) =>
  (await userTokens(ctx, ctx.fixture.mcpServer!.url, ctx.fixture.mcpServer!.scope)).access_token;

export const resourceServer: Scenario[] = [
  {
    id: 'rs.metadata',
    clause: 'RFC 9728 §3, §3.3 (resource identical); MCP authorization §Authorization Server Location',
    level: 'MUST',
    title: 'the MCP server publishes protected resource metadata naming itself and this issuer',
    needs: ['mcpServer'],
    async run(ctx) {
      const res = await fetch(metadataUrl(ctx.fixture.mcpServer!.url));
      const body = (await res.json().catch(() => ({}))) as { resource?: string; authorization_servers?: string[] };
      assert(res.status === 200, `HTTP ${res.status}`);
      assert(body.resource === ctx.fixture.mcpServer!.url, `resource is ${String(body.resource)}`);
      assert(body.authorization_servers?.includes(ctx.issuer), 'this issuer is not among authorization_servers');
    },
  },
  {
    id: 'rs.challenge',
    clause:
      'MCP authorization §Protected Resource Metadata Discovery (401 + WWW-Authenticate); RFC 9728 §5.1; RFC 6750 §3',
    level: 'MUST',
    title: 'a request without a token is 401 with a Bearer challenge carrying resource_metadata',
    needs: ['mcpServer'],
    async run(ctx) {
      const res = await post(ctx, initialize);
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert(res.status === 401, `HTTP ${res.status}`);
      assert(
        /^Bearer /.test(challenge) &&
          challenge.includes(`resource_metadata="${metadataUrl(ctx.fixture.mcpServer!.url)}"`),
        `WWW-Authenticate: ${challenge}`,
      );
    },
  },
  {
    id: 'rs.audience',
    clause:
      'MCP authorization §Token Audience Binding and Validation (MUST validate the audience); RFC 8707 §2; RFC 6750 §3.1',
    level: 'MUST',
    title: 'a valid token of this issuer for another resource is 401 invalid_token; one for this server passes',
    needs: ['mcpServer'],
    async run(ctx) {
      const { access_token: other } = await userTokens(ctx);
      const refused = await post(ctx, initialize, { authorization: `Bearer ${other}` });
      assert(
        refused.status === 401 && (refused.headers.get('www-authenticate') ?? '').includes('error="invalid_token"'),
        `a token for ${ctx.fixture.resource}: HTTP ${refused.status}`,
      );
      const ok = await post(ctx, initialize, { authorization: `Bearer ${await mcpToken(ctx)}` });
      assert(ok.status === 200, `a token for the MCP server: HTTP ${ok.status}`);
    },
  },
  {
    id: 'rs.insufficient-scope',
    clause: 'MCP authorization §Scope Challenge Handling (403 insufficient_scope); RFC 6750 §3.1',
    level: 'MUST',
    title: 'a tool the token does not cover is 403 insufficient_scope naming the scope to step up to',
    needs: ['mcpServer'],
    async run(ctx) {
      const tool = ctx.fixture.mcpServer!.deniedTool;
      assert(tool, 'the fixture names no deniedTool');
      const res = await post(
        ctx,
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: tool, arguments: {} } },
        { authorization: `Bearer ${await mcpToken(ctx)}` },
      );
      const challenge = res.headers.get('www-authenticate') ?? '';
      assert(res.status === 403, `HTTP ${res.status}`);
      assert(
        challenge.includes('error="insufficient_scope"') && /scope="[^"]+"/.test(challenge),
        `WWW-Authenticate: ${challenge}`,
      );
    },
  },
  {
    id: 'rs.token-in-query',
    clause: 'MCP authorization §Access Token Usage (tokens MUST NOT be in the query string); OAuth 2.1 §5.1',
    level: 'MUST',
    title: 'a token sent in the query string is not accepted',
    needs: ['mcpServer'],
    async run(ctx) {
      const url = new URL(ctx.fixture.mcpServer!.url);
      url.searchParams.set('access_token', await mcpToken(ctx));
      const res = await post(ctx, initialize, {}, url.href);
      assert(res.status === 401, `HTTP ${res.status}`);
    },
  },

  {
    id: 'rs.invalid-token',
    clause: 'MCP authorization §Token Handling (invalid or expired tokens: 401); RFC 6750 §3.1 (invalid_token)',
    level: 'MUST',
    title: 'a token that does not verify is 401 with error="invalid_token"',
    needs: ['mcpServer'],
    async run(ctx) {
      const res = await post(ctx, initialize, { authorization: 'Bearer not.a.token' });
      assert(
        res.status === 401 && (res.headers.get('www-authenticate') ?? '').includes('error="invalid_token"'),
        `HTTP ${res.status} ${res.headers.get('www-authenticate') ?? ''}`,
      );
    },
  },
  {
    id: 'rs.dpop',
    clause:
      'RFC 9449 §7.1 (a DPoP-bound token needs the DPoP scheme and a proof with ath for this request); MCP authorization §Token Handling',
    level: 'MUST',
    title: 'a DPoP-bound token is refused as a bearer token or with a wrong proof, and accepted with its proof',
    needs: ['mcpServer'],
    async run(ctx) {
      const url = ctx.fixture.mcpServer!.url;
      const { key, token } = await dpopBoundMcpToken(ctx);
      const ath = createHash('sha256').update(token).digest('base64url');
      const asBearer = await post(ctx, initialize, { authorization: `Bearer ${token}` });
      assert(asBearer.status === 401, `as a bearer token: HTTP ${asBearer.status}`);
      const noAth = await post(ctx, initialize, {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, { htu: url }),
      });
      assert(noAth.status === 401, `a proof without ath: HTTP ${noAth.status}`);
      const otherUrl = await post(ctx, initialize, {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, { htu: `${url}/other`, ath }),
      });
      assert(otherUrl.status === 401, `a proof for another URL: HTTP ${otherUrl.status}`);
      const ok = await post(ctx, initialize, {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, { htu: url, ath }),
      });
      assert(ok.status === 200, `with its proof: HTTP ${ok.status}`);
    },
  },
  {
    id: 'rs.dpop-replay',
    clause: 'RFC 9449 §11.1 (a resource server accepts a proof jti once), §7.1 (invalid_dpop_proof)',
    level: 'SHOULD',
    title: 'at the MCP server, a DPoP proof accepted once is refused the second time with invalid_dpop_proof',
    needs: ['mcpServer'],
    async run(ctx) {
      const url = ctx.fixture.mcpServer!.url;
      const { key, token } = await dpopBoundMcpToken(ctx);
      const headers = {
        authorization: `DPoP ${token}`,
        dpop: await proof(key, { htu: url, ath: createHash('sha256').update(token).digest('base64url') }),
      };
      const first = await post(ctx, initialize, headers);
      assert(first.status === 200, `first use: HTTP ${first.status}`);
      const again = await post(ctx, initialize, headers);
      assert(
        again.status === 401 && /error="invalid_dpop_proof"/.test(again.headers.get('www-authenticate') ?? ''),
        `replayed: HTTP ${again.status} ${again.headers.get('www-authenticate') ?? ''}`,
      );
    },
  },

  {
    id: 'rs.method-headers',
    clause: 'MCP 2026-07-28 Streamable HTTP (SEP-2243: Mcp-Method / Mcp-Name MUST match the body, else 400)',
    level: 'MUST',
    title: 'a request whose Mcp-Method or Mcp-Name header disagrees with its JSON-RPC body is 400',
    needs: ['mcpServer'],
    async run(ctx) {
      const authorization = `Bearer ${await mcpToken(ctx)}`;
      const call = { jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} };
      const method = await post(ctx, call, { authorization, 'mcp-method': 'tools/call' });
      assert(method.status === 400, `Mcp-Method tools/call on a tools/list body: HTTP ${method.status}`);
      const named = { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'one_tool', arguments: {} } };
      const name = await post(ctx, named, { authorization, 'mcp-method': 'tools/call', 'mcp-name': 'another_tool' });
      assert(name.status === 400, `Mcp-Name another_tool on a one_tool call: HTTP ${name.status}`);
      const agreeing = await post(ctx, call, { authorization, 'mcp-method': 'tools/list' });
      assert(agreeing.status !== 400, `matching headers refused: HTTP ${agreeing.status}`);
    },
  },
];
