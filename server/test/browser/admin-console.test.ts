/**
 * The admin console in a real browser (Debian's Chromium, driven by playwright-core, JavaScript off: the
 * console needs none) under its Content-Security-Policy (issue #15 "Done when"): an admin signs in through
 * baton, finds Alice in the access matrix, opens her page, revokes everything, and her next tool call at
 * the example logs MCP server (clients/examples/logs-mcp.ts, the kit, the real MCP SDK) is refused; a person
 * without an admin role is refused. The screenshots in the README (docs/screenshots/) are taken here, so
 * they show the console as it is.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startLogsMcp } from '../../../clients/examples/logs-mcp.ts';
import { freePort, ROLES, startTestServer, type TestServer } from '../helpers.ts';
import { launchChromium, signInWithPassword } from './chromium.ts';

const SHOTS = resolve(import.meta.dirname, '../../../docs/screenshots');
const SECRET = 'logs-mcp-test-secret-0123456789abcdef';
const AGENT_REDIRECT = 'http://127.0.0.1/callback';
let baton: TestServer;
let issuer: string;
let mcpUrl: string;
let mcp: Server;
let browser: Browser;

beforeAll(async () => {
  const mcpPort = await freePort();
  mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  // the issuer at the server's own address: the browser follows its redirects, the kit fetches its keys
  baton = await startTestServer({
    backend: 'postgres+redis',
    port: await freePort(),
    config: (base) => ({
      resources: [
        ...base.resources,
        {
          uri: mcpUrl,
          name: 'Logs (example MCP server)',
          client_id: 'logs-mcp',
          scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'],
        },
      ],
      roles: { ...ROLES, 'baton-admin': ['admin.read', 'admin.write'] },
      // carol (finance) administers baton; alice is a developer; bob (oncall) has no admin role
      role_bindings: { local: { developers: ['developer'], oncall: ['sre'], finance: ['baton-admin'] } },
      clients: {
        ...base.clients,
        static: [
          ...base.clients.static,
          { client_id: 'logs-mcp', name: 'Logs MCP server', kind: 'mcp_server', client_secret: SECRET },
        ],
      },
    }),
  });
  issuer = baton.config.issuer;
  mcp = await startLogsMcp({ issuer, port: mcpPort, clientSecret: SECRET, audit: () => {} });
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await new Promise((ok) => mcp?.close(ok));
  await baton?.close();
});

/** Alice signs in to the IDE agent (HTTP, the local directory) and gets a token for the logs MCP server. */
async function aliceToken(context: BrowserContext): Promise<string> {
  const page = await context.newPage();
  const verifier = randomBytes(32).toString('base64url');
  let code: string | undefined;
  await page.route(`${AGENT_REDIRECT}**`, async (route) => {
    code = new URL(route.request().url()).searchParams.get('code') ?? undefined;
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'agent received the code' });
  });
  await page.goto(
    `${issuer}/auth?${new URLSearchParams({
      client_id: 'ide-agent',
      redirect_uri: AGENT_REDIRECT,
      response_type: 'code',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      resource: mcpUrl,
      scope: 'logs.read',
      state: randomBytes(8).toString('hex'),
    }).toString()}`,
  );
  await signInWithPassword(page, 'alice');
  await vi.waitFor(() => expect(code).toBeDefined(), { timeout: 10_000 });
  await page.close();
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code!,
      code_verifier: verifier,
      redirect_uri: AGENT_REDIRECT,
      client_id: 'ide-agent',
      resource: mcpUrl,
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A tool call at the logs MCP server with the real MCP SDK client: the tool's text, or the error. */
async function readLogs(token: string): Promise<string> {
  const client = new Client({ name: 'admin-console-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  try {
    await client.connect(transport);
    const result = await client.callTool({ name: 'read_logs', arguments: {} });
    return JSON.stringify(result.content);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A page whose console is watched for Content-Security-Policy violations. */
async function watched(context: BrowserContext): Promise<{ page: Page; violations: string[] }> {
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(msg.text())) violations.push(msg.text());
  });
  return { page, violations };
}

const shot = (page: Page, name: string) => page.screenshot({ path: resolve(SHOTS, `console-${name}.png`) });

describe('the admin console in a browser', () => {
  it('a person without an admin role signs in and is refused, with a page that says why', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const { page, violations } = await watched(context);
    await page.goto(`${issuer}/admin`);
    await signInWithPassword(page, 'bob');
    // baton's own page: none of what the console asked for is granted to him
    await page.getByRole('heading', { name: 'No access' }).waitFor();
    await page.getByRole('button', { name: 'Return to the application' }).click();
    await page.getByRole('heading', { name: 'No admin access' }).waitFor();
    expect(await page.locator('main').innerText()).toContain('You are signed in, but your account has no admin role.');
    expect(violations).toEqual([]);
    await context.close();
  }, 60_000);

  it('an admin finds Alice in the matrix, revokes everything, and her next tool call is refused', async () => {
    const token = await aliceToken(await browser.newContext({ javaScriptEnabled: false }));
    expect(await readLogs(token)).toContain('3 errors in checkout-service in the last hour');

    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 } });
    const { page, violations } = await watched(context);
    await page.goto(`${issuer}/admin`);
    await signInWithPassword(page, 'carol');
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await shot(page, 'overview');

    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Access' }).click();
    await page.getByRole('heading', { name: 'Access matrix', level: 1 }).waitFor();
    const logs = page.getByRole('region', { name: 'Who can get each scope of Logs (example MCP server)' });
    await expect(logs.getByRole('link', { name: 'alice' }).count()).resolves.toBeGreaterThan(0);
    await shot(page, 'access');
    await logs.getByRole('link', { name: 'alice' }).first().click();

    await page.getByRole('heading', { name: 'alice', level: 1 }).waitFor();
    expect(await page.locator('main').innerText()).toContain('logs.read');
    await shot(page, 'person');
    await page.getByLabel('I understand this signs alice').check();
    await page.getByRole('button', { name: 'Revoke everything' }).click();
    await page.getByRole('heading', { name: /Revoked everything of alice/ }).waitFor();
    const done = await page.locator('main').innerText();
    expect(done).toMatch(/1 access token/);
    await shot(page, 'revoked');

    // the kit refuses her token from the status list alone, within its ttl: poll the real MCP client
    await vi.waitFor(() => expect(readLogs(token)).rejects.toThrow(), { timeout: 20_000, interval: 1000 });
    const refused = await fetch(mcpUrl, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');

    // the trail: her sign-in, the token, the tool call, the revocation; and the chain of her token as a tree
    await page.goto(`${issuer}/admin/audit?account=alice`);
    await page.getByRole('heading', { name: 'Audit trail', level: 1 }).waitFor();
    await shot(page, 'audit');
    // her token's events link to its trace (the jti)
    await page
      .getByRole('link', { name: String(decodeJwt(token).jti) })
      .first()
      .click();
    await page.getByRole('heading', { name: 'Trace of a token chain', level: 1 }).waitFor();
    expect(await page.locator('main').innerText()).toContain('read_logs');
    await shot(page, 'trace');
    await page.goto(`${issuer}/admin/keys`);
    await page.getByRole('heading', { name: 'Signing keys', level: 1 }).waitFor();
    await shot(page, 'keys');
    expect(violations).toEqual([]);
    await context.close();
  }, 90_000);
});
