/**
 * The pages oidc-provider submits by script, in a real browser (Debian's Chromium, driven by playwright-core,
 * JavaScript on) under baton's Content-Security-Policy: `response_mode=form_post` (OAuth 2.0 Form Post
 * Response Mode, advertised in discovery) delivers the code to the client's redirect URI by POST; the sign-out
 * oidc-provider posts when another account signs in on the same browser completes; and /session/end
 * (OpenID Connect RP-Initiated Logout 1.0 §2) signs out, with a confirmation page or without a session.
 * No page may trip the policy: the browser's console shows no violation.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { authorizationRequest, launchChromium, signInWithPassword } from './chromium.ts';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import { freePort, startBatonAt } from '../helpers.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
let browser: Browser;
let baton: RunningServer;
let cleanup: () => Promise<void>;
let rp: Server;
let redirectUri: string;
/** the form posts the client's redirect URI received, in order */
const received: URLSearchParams[] = [];
const waiting: (() => void)[] = [];

beforeAll(async () => {
  // the client: a web server of our own that receives the form post at its redirect URI
  rp = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST') {
        received.push(new URLSearchParams(body));
        waiting.splice(0).forEach((wake) => wake());
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('client received the response');
    });
  });
  await new Promise<void>((ok) => rp.listen(0, '127.0.0.1', ok));
  redirectUri = `http://127.0.0.1:${(rp.address() as AddressInfo).port}/cb`;
  const port = await freePort();
  ({ server: baton, cleanup } = await startBatonAt(port, (base) => ({
    clients: {
      ...base.clients,
      static: [
        ...base.clients.static,
        { client_id: 'form-post-agent', kind: 'agent', public: true, first_party: true, redirect_uris: [redirectUri] },
      ],
    },
  })));
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await cleanup?.();
  await new Promise((ok) => rp?.close(ok));
});

/**
 * A page whose console is watched: `violations` collects what the browser reports against the policy, and
 * `settle(p)` waits for `p` but fails at once on a violation (rather than waiting for a page that never moves).
 */
async function watchedPage(context: BrowserContext) {
  const page = await context.newPage();
  const violations: string[] = [];
  let fail: (err: Error) => void = () => undefined;
  const violated = new Promise<never>((_, reject) => (fail = reject));
  violated.catch(() => undefined);
  page.on('console', (msg) => {
    if (!/Content Security Policy|Content-Security-Policy/i.test(msg.text())) return;
    violations.push(msg.text());
    fail(new Error(`CSP violation: ${msg.text()}`));
  });
  const settle = <T>(p: Promise<T>) => Promise.race([p, violated]);
  return { page, violations, settle };
}

/**
 * The next form post the client receives after this call, once `page` shows the client's answer: call it
 * before the navigation that leads there, await it after.
 */
function nextPost(page: Page): () => Promise<URLSearchParams> {
  const seen = received.length;
  const post = new Promise<URLSearchParams>((ok) => {
    const check = () => (received.length > seen ? ok(received[seen]!) : waiting.push(check));
    check();
  });
  return () => Promise.all([post, page.waitForURL(redirectUri)]).then(([p]) => p);
}

const authorizeUrl = (extra: Record<string, string> = {}) =>
  authorizationRequest(baton.url, {
    client_id: 'form-post-agent',
    redirect_uri: redirectUri,
    response_mode: 'form_post',
    resource: LOGS,
    scope: 'logs.read',
    ...extra,
  });

/** Redeems a code the client received (RFC 6749 §4.1.3 with PKCE and the resource); the token's claims. */
async function redeem(code: string | null, verifier: string) {
  const res = await request(baton.url).post('/token').type('form').send({
    grant_type: 'authorization_code',
    code,
    code_verifier: verifier,
    redirect_uri: redirectUri,
    client_id: 'form-post-agent',
    resource: LOGS,
  });
  expect(res.status).toBe(200);
  return decodeJwt(res.body.access_token as string);
}

describe('pages oidc-provider submits by script, under the CSP', () => {
  it('response_mode=form_post: the client receives code and state by POST', async () => {
    const context = await browser.newContext();
    const { page, violations, settle } = await watchedPage(context);
    const auth = authorizeUrl();
    const posted = nextPost(page);
    await page.goto(auth.url);
    await signInWithPassword(page, 'alice');
    const post = await settle(posted());
    expect(post.get('state')).toBe(auth.state);
    expect(post.get('iss')).toBe(baton.url); // RFC 9207
    expect(await redeem(post.get('code'), auth.verifier)).toMatchObject({ idp: { sub: 'alice' }, scope: 'logs.read' });
    expect(violations).toEqual([]);
    await context.close();
  });

  it('another account signs in on the same browser: the sign-out oidc-provider posts completes, then the code', async () => {
    const context = await browser.newContext();
    const { page, violations, settle } = await watchedPage(context);
    const first = nextPost(page);
    await page.goto(authorizeUrl().url);
    await signInWithPassword(page, 'alice');
    await settle(first());

    // signed in as alice; prompt=login and bob signs in: oidc-provider ends alice's session first (a page
    // that posts itself to /session/end/confirm), then resumes the authorization for bob
    const second = authorizeUrl({ prompt: 'login' });
    const posted = nextPost(page);
    await page.goto(second.url);
    await signInWithPassword(page, 'bob');
    const post = await settle(posted());
    expect(post.get('state')).toBe(second.state);
    expect(await redeem(post.get('code'), second.verifier)).toMatchObject({ idp: { sub: 'bob' } });
    expect(violations).toEqual([]);
    await context.close();
  });

  it('GET /session/end with a session: the confirmation page signs out, and the next request asks again', async () => {
    const context = await browser.newContext();
    const { page, violations, settle } = await watchedPage(context);
    const posted = nextPost(page);
    await page.goto(authorizeUrl().url);
    await signInWithPassword(page, 'alice');
    await settle(posted());

    await page.goto(`${baton.url}/session/end`);
    await settle(page.getByRole('heading', { name: 'Sign out?' }).waitFor());
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await settle(page.getByRole('heading', { name: 'Signed out' }).waitFor());
    // the session is gone: the next authorization request shows the sign-in form again
    await page.goto(authorizeUrl().url);
    await settle(page.getByRole('heading', { name: 'Sign in to Example Corp' }).waitFor());
    expect(violations).toEqual([]);
    await context.close();
  });

  it('GET /session/end without a session: the page oidc-provider posts by itself signs out', async () => {
    const context = await browser.newContext();
    const { page, violations, settle } = await watchedPage(context);
    await page.goto(`${baton.url}/session/end`);
    await settle(page.getByRole('heading', { name: 'Signed out' }).waitFor());
    expect(violations).toEqual([]);
    await context.close();
  });
});
