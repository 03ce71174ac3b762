/**
 * A person signs in and consents through baton's pages in a real browser (Debian's Chromium, driven by
 * playwright-core): labelled fields, no JavaScript needed, the redirect back to the client with a code.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { authorizationRequest, launchChromium, signInWithPassword } from './chromium.ts';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import { PARTNER_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { tempDir } from '../temp.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const REDIRECT = 'https://partner.example.com/cb';
const ISSUER = 'http://127.0.0.1:9462';
let baton: TestServer | undefined;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  // the browser follows redirects to the issuer's URLs, so the issuer is where the server listens
  baton = await startTestServer({ port: 9462 });
  server = baton.server;
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await baton?.close();
});

describe('sign-in pages in a browser', () => {
  it('a person signs in, reads the consent page, allows, and the client gets its code', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    let redirectedTo: URL | undefined;
    // the client's redirect URI is not a real site here: catch the navigation to it
    await page.route(`${REDIRECT}**`, async (route) => {
      redirectedTo = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'client received the code' });
    });
    const auth = authorizationRequest(server.url, {
      client_id: 'partner-app',
      redirect_uri: REDIRECT,
      resource: LOGS,
      scope: 'logs.read incidents.trigger',
    });
    const { verifier, state } = auth;

    await page.goto(auth.url);
    await expect(page.getByRole('heading', { name: 'Sign in to Example Corp' }).isVisible()).resolves.toBe(true);
    await signInWithPassword(page, 'alice', 'wrong');
    await page.getByRole('alert').waitFor();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('Wrong username or password.');
    await page.getByLabel('Password').fill('alice-password');
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Allow Partner dashboard to act for you?' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toContain('Signed in as alice@example.com');
    expect(text).toContain('which returns to partner.example.com');
    expect(text).toContain('Production logs (MCP)');
    expect(text).toContain('logs.read: Read production logs');
    expect(text).toContain('Not included (your roles do not allow it): incidents.trigger');
    await page.screenshot({
      path: join(process.env.BATON_SCREENSHOTS ?? tempDir('shot'), 'consent.png'),
    });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${REDIRECT}**`);

    expect(redirectedTo?.searchParams.get('state')).toBe(state);
    expect(redirectedTo?.searchParams.get('iss')).toBe(ISSUER);
    const tokens = await request(server.url)
      .post('/token')
      .auth('partner-app', PARTNER_SECRET)
      .type('form')
      .send({
        grant_type: 'authorization_code',
        code: redirectedTo!.searchParams.get('code'),
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        resource: LOGS,
      })
      .expect(200);
    expect(tokens.body.scope).toBe('logs.read');
    await context.close();
  });
});
