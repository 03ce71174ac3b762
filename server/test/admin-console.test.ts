/**
 * The web admin console over HTTP (issue #15), as a browser without JavaScript uses it: the sign-in through
 * baton itself (authorization code + PKCE by the built-in console client, the admin scopes by role), the
 * session, the gate (admin.read for pages, admin.write + CSRF for forms), the pages' headers, and every
 * refusal as a page with its status. (Chromium drives the same pages in browser/admin-console.test.ts.)
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  adminStoresOf,
  clientCredentialsRequest,
  ROLES,
  SERVICE_SECRET,
  startTestServer,
  storedStatus,
  type TestServer,
} from './helpers.ts';
import {
  actionOf,
  agentAuthorizePath,
  csrfOf,
  followRedirects,
  postLocalSignIn,
  redeemAtAgentCallback,
} from './pages.ts';
import { runOperation } from '../src/admin/operations.ts';
import { CONSOLE_POLICY } from '../src/http/admin-console/routes.ts';
import type { AccessMatrix } from '../src/policy/access-matrix.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
let baton: TestServer;
let url: string;

beforeAll(async () => {
  baton = await startTestServer({
    backend: 'postgres+redis',
    config: (base) => ({
      roles: { ...ROLES, 'baton-admin': ['admin.read', 'admin.write'], auditor: ['admin.read'] },
      // bob administers, carol (finance) only reads, alice has no admin role
      role_bindings: { local: { developers: ['developer'], oncall: ['sre', 'baton-admin'], finance: ['auditor'] } },
      clients: base.clients,
    }),
  });
  url = baton.url;
}, 60_000);
afterAll(async () => baton?.close());

/** From `path` on, signs `username` in at the local directory's form; the page the browser lands on. */
async function signIn(agent: TestAgent, username: string, path = '/admin'): Promise<request.Response> {
  const first = await followRedirects(agent, path, () => false, 12);
  const html = first.page!.text;
  expect(html).toContain('Sign in to Example Corp');
  const { page } = await followRedirects(agent, await postLocalSignIn(agent, html, username), () => false, 12);
  return page!;
}

/** baton's account id of a local directory user who has signed in */
async function accountOf(username: string): Promise<string> {
  const row = await baton.server.storage
    .db('accounts')
    .where({ idp_id: 'local', idp_subject: username })
    .first<{ id: string } | undefined>('id');
  if (!row) throw new Error(`${username} has not signed in`);
  return row.id;
}

describe('signing in to the console', () => {
  it('an admin signs in through baton (code + PKCE) and lands on the page asked for, under a strict policy', async () => {
    const agent = request.agent(url);
    const start = await agent.get('/admin/access').expect(303);
    expect(start.headers.location).toBe('/admin/sign-in?return_to=%2Fadmin%2Faccess');
    const signIn_ = await agent.get(start.headers.location!).expect(303);
    const auth = new URL(signIn_.headers.location!);
    const issuer = baton.config.issuer;
    expect(`${auth.origin}${auth.pathname}`).toBe(`${issuer}/auth`);
    expect(Object.fromEntries(auth.searchParams)).toMatchObject({
      client_id: 'baton-admin-console',
      redirect_uri: `${issuer}/admin/callback`,
      response_type: 'code',
      scope: 'admin.read admin.write',
      resource: `${issuer}/admin/api`,
      code_challenge_method: 'S256',
    });
    const login = signIn_.headers['set-cookie'] as unknown as string[];
    expect(login.find((c) => c.startsWith('baton_admin_login='))).toMatch(/; path=\/admin; .*samesite=lax; httponly/);

    const page = await signIn(agent, 'bob', start.headers.location);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CONSOLE_POLICY);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toContain('Access');
    // the admin's page views are the admin's operations, recorded with the console's client and their account
    const bob = await accountOf('bob');
    const rows = await baton.server.storage
      .db('audit_events')
      .where({ type: 'admin.operation', account_id: bob })
      .select<{ client_id: string; event: { details: { operation: string; via: string } } }[]>('client_id', 'event');
    expect(rows.map((r) => [r.client_id, r.event.details.operation, r.event.details.via])).toContainEqual([
      'baton-admin-console',
      'access.matrix',
      'admin_console',
    ]);
  });

  it("what the access matrix says of the admin API is what the console's tokens carry, person by person", async () => {
    for (const who of ['bob', 'carol']) await signIn(request.agent(url), who);
    const stores = adminStoresOf(baton);
    const matrix = (await runOperation(stores, 'access.matrix', {})) as AccessMatrix;
    const admin = matrix.builtin_resources.find((b) => b.uri === `${baton.config.issuer}/admin/api`)!;
    expect(admin.people?.through).toBe('baton-admin-console');
    const listed = (scope: string) =>
      admin
        .people!.scopes.find((s) => s.scope === scope)!
        .roles.flatMap((r) => r.groups.flatMap((g) => g.accounts.map((a) => a.subject)))
        .sort();
    expect([listed('admin.read'), listed('admin.write')]).toEqual([['bob', 'carol'], ['bob']]);
    // the tokens baton issued to the console for each of them (token.issued in the trail)
    for (const [who, scope] of [
      ['bob', 'admin.read admin.write'],
      ['carol', 'admin.read'],
    ] as const) {
      const issued = await baton.server.storage
        .db('audit_events')
        .where({ type: 'token.issued', client_id: 'baton-admin-console', account_id: await accountOf(who) })
        .select<{ event: { scope: string; resource: string } }[]>('event');
      expect(issued.length).toBeGreaterThan(0);
      for (const { event } of issued)
        expect([event.resource, event.scope]).toEqual([`${baton.config.issuer}/admin/api`, scope]);
    }
  });

  it('a person without an admin role is refused: no admin scope is granted, and the console says so', async () => {
    const agent = request.agent(url);
    const page = await signIn(agent, 'alice');
    // baton's own no-access page: the console client asked for scopes her roles do not grant
    expect(page.status).toBe(403);
    expect(page.text).toContain('No access');
    const aborted = await agent
      .post(actionOf(page.text))
      .type('form')
      .send({ csrf: csrfOf(page.text) });
    const { page: back } = await followRedirects(agent, aborted.headers.location!, () => false, 12);
    expect(back!.status).toBe(403);
    expect(back!.text).toContain('You are signed in, but your account has no admin role.');
    // and no console session: the next page sends her to sign in again
    await agent.get('/admin').expect(303);
  });

  it('a callback is used once; a forged or replayed one is a clear page, never a session', async () => {
    const agent = request.agent(url);
    await signIn(agent, 'bob');
    const other = request.agent(url);
    const res = await other.get('/admin/callback?code=forged&state=forged&iss=x').expect(400);
    expect(res.text).toContain('This sign-in has expired or was already used.');
    await other.get('/admin').expect(303);
  });

  it('the console client is for the admin API only, and no other client may carry a person’s admin scopes', async () => {
    const agent = request.agent(url);
    // the console client asking for a configured resource: RFC 8707 §2 invalid_target, to its redirect URI
    const forConsole = await agent
      .get(
        `/auth?${new URLSearchParams({
          client_id: 'baton-admin-console',
          redirect_uri: `${baton.config.issuer}/admin/callback`,
          response_type: 'code',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          resource: LOGS,
          scope: 'logs.read',
        }).toString()}`,
      )
      .expect(303);
    expect(new URL(forConsole.headers.location!).searchParams.get('error')).toBe('invalid_target');
    // the IDE agent asking for the admin API on bob's behalf: refused the same way
    const forAgent = await agent
      .get(agentAuthorizePath('v'.repeat(43), { resource: `${baton.config.issuer}/admin/api`, scope: 'admin.read' }))
      .expect(303);
    expect(new URL(forAgent.headers.location!).searchParams.get('error')).toBe('invalid_target');
  });
});

describe('the gate', () => {
  let bob: TestAgent;
  let carol: TestAgent;

  beforeAll(async () => {
    bob = request.agent(url);
    await signIn(bob, 'bob');
    carol = request.agent(url);
    await signIn(carol, 'carol');
  });

  const csrfOn = async (agent: TestAgent, path: string) => csrfOf((await agent.get(path).expect(200)).text);

  it('a read-only admin reads every page but gets no form, and a form posted anyway is refused', async () => {
    for (const path of ['/admin', '/admin/access', '/admin/accounts', '/admin/clients', '/admin/audit', '/admin/keys'])
      await carol.get(path).expect(200);
    const who = await accountOf('bob');
    const person = await carol.get(`/admin/people/${who}`).expect(200);
    expect(person.text).not.toContain('Revoke everything');
    const res = await carol
      .post(`/admin/people/${who}/revoke`)
      .type('form')
      .send({ csrf: csrfOf(person.text), confirm: 'yes' })
      .expect(403);
    expect(res.text).toContain('This needs admin.write, which your roles do not grant.');
  });

  it('a form without the CSRF token, with a wrong one, or from another origin is refused; nothing changes', async () => {
    const who = await accountOf('carol');
    const csrf = await csrfOn(bob, '/admin');
    for (const [body, origin] of [
      [{ confirm: 'yes' }, undefined],
      [{ confirm: 'yes', csrf: `${csrf}x` }, undefined],
      [{ confirm: 'yes', csrf }, 'https://evil.example'],
    ] as const) {
      const req = bob.post(`/admin/people/${who}/disable`).type('form');
      if (origin) void req.set('Origin', origin);
      const res = await req.send(body).expect(403);
      expect(res.text).toContain('This form did not come from this console');
    }
    expect((await baton.server.accounts.find(who))!.disabled).toBe(false);
  });

  it('revoke everything needs the confirmation box; with it, the person’s tokens are revoked at once', async () => {
    const agent = request.agent(url);
    const verifier = 'a'.repeat(43);
    const login = await agent.get(agentAuthorizePath(verifier, { scope: 'logs.read' })).expect(303);
    const { page } = await followRedirects(agent, login.headers.location!, () => false);
    const posted = await agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text), username: 'alice', password: 'alice-password' })
      .expect(303);
    const tokens = await redeemAtAgentCallback(url, agent, posted.headers.location!, verifier);
    const aliceId = String(decodeJwt(tokens.access_token).sub);
    const person = await bob.get(`/admin/people/${aliceId}`).expect(200);
    expect(person.text).toContain('Revoke everything');
    // her recent activity, newest first: the token she just got, after her sign-in
    const recent = person.text.slice(person.text.indexOf('Recent events of alice'));
    expect(recent.indexOf('token.issued')).toBeGreaterThan(0);
    expect(recent.indexOf('token.issued')).toBeLessThan(recent.indexOf('login.success'));
    const csrf = csrfOf(person.text);
    const unconfirmed = await bob.post(`/admin/people/${aliceId}/revoke`).type('form').send({ csrf }).expect(400);
    expect(unconfirmed.text).toContain('tick the confirmation box');
    expect(await storedStatus(baton.server.storage.db, tokens.access_token)).toBe(0);
    const done = await bob.post(`/admin/people/${aliceId}/revoke`).type('form').send({ csrf, confirm: 'yes' });
    expect(done.status).toBe(200);
    expect(await storedStatus(baton.server.storage.db, tokens.access_token)).toBe(1);
    // the revocation is the admin's, in the trail
    const [row] = await baton.server.storage
      .db('audit_events')
      .where({ type: 'admin.operation' })
      .whereRaw(`event->'details'->>'operation' = 'revoke.user'`)
      .select<{ account_id: string; client_id: string }[]>('account_id', 'client_id');
    expect(row).toEqual({ account_id: await accountOf('bob'), client_id: 'baton-admin-console' });
  });

  it('an admin blocks a client from its page (its next token request is invalid_client) and unblocks it', async () => {
    const tokenRequest = () =>
      clientCredentialsRequest(url, 'cost-reporter', SERVICE_SECRET, 'https://cost.internal.example.com', 'cost.read');
    await tokenRequest().expect(200);
    const page = await bob.get('/admin/clients/cost-reporter').expect(200);
    expect(page.text).toContain('Block and revoke its tokens');
    // its live tokens: the one it just got for itself (client_credentials: no account)
    expect(page.text).toContain('Live access tokens');
    expect(page.text).toContain('the client itself');
    const csrf = csrfOf(page.text);
    const blocked = await bob
      .post('/admin/clients/cost-reporter/block')
      .type('form')
      .send({ csrf, reason: 'a leaked secret' })
      .expect(303);
    expect(blocked.headers.location).toBe('/admin/clients/cost-reporter');
    expect((await tokenRequest().expect(401)).body.error).toBe('invalid_client');
    const after = await bob.get('/admin/clients/cost-reporter').expect(200);
    expect(after.text).toContain('Unblock');
    // carol reads the page, without the forms
    expect((await carol.get('/admin/clients/cost-reporter').expect(200)).text).not.toContain('Unblock</button>');
    await bob.post('/admin/clients/cost-reporter/unblock').type('form').send({ csrf }).expect(303);
    await tokenRequest().expect(200);
  });

  it('the accounts page searches by a part of the subject, email or name; LIKE characters match themselves', async () => {
    const found = await carol.get('/admin/accounts?search=ALICE@example').expect(200);
    expect(found.text).toContain(`href="/admin/people/${await accountOf('alice')}"`);
    expect(found.text).not.toContain(`href="/admin/people/${await accountOf('bob')}"`);
    expect(found.text).toContain('value="ALICE@example"');
    const wildcard = await carol.get(`/admin/accounts?search=${encodeURIComponent('%')}`).expect(200);
    expect(wildcard.text).toContain('No account matches.');
  });

  it('hostile or malformed page parameters are a 400 page; SQL metacharacters are only values', async () => {
    const hostile = await bob.get(`/admin/audit?account=${encodeURIComponent("x' or 1=1; drop table accounts; --")}`);
    expect(hostile.status).toBe(200);
    expect(hostile.text).not.toContain('<script');
    for (const [query, message] of [
      ['limit=5', 'unknown query parameter limit'],
      ['after=abc', 'after is an event number'],
      ['type=a&type=b', 'the query parameter type is given more than once'],
      ['since=yesterday', 'since: is not a date or an ISO 8601 time'],
    ]) {
      const res = await bob.get(`/admin/audit?${query}`).expect(400);
      expect(res.text).toContain(message);
    }
    await bob.get('/admin/people/u_nobody').expect(404);
    // a jti baton never recorded: its trace is that token alone, with nothing recorded
    await bob.get('/admin/audit/trace/no-such-jti').expect(200);
    await bob.get('/admin/no-such-page').expect(404);
  });

  it('signing out ends the session in the shared store', async () => {
    const agent = request.agent(url);
    await signIn(agent, 'bob');
    const csrf = await csrfOn(agent, '/admin');
    const out = await agent.post('/admin/sign-out').type('form').send({ csrf });
    expect([out.status, out.headers.location]).toEqual([200, undefined]);
    expect(out.text).toContain('Signed out');
    await agent.get('/admin').expect(303);
  });

  it("an admin whose account is disabled is out at the next click: the session's token is checked each time", async () => {
    const dave = request.agent(url);
    await signIn(dave, 'bob');
    await dave.get('/admin').expect(200);
    const stores = adminStoresOf(baton);
    await runOperation(stores, 'accounts.disable', { account: await accountOf('bob') });
    try {
      // this process's account cache holds for STATE_CACHE_MS: poll until the gate sees the disabling
      const res = await vi.waitFor(
        async () => {
          const r = await dave.get('/admin');
          expect(r.status).toBe(401);
          return r;
        },
        { timeout: 5000, interval: 100 },
      );
      expect(res.text).toContain('Your admin session is no longer valid');
      // the session is gone: the next page is a new sign-in
      await dave.get('/admin').expect(303);
    } finally {
      await runOperation(stores, 'accounts.enable', { account: await accountOf('bob') });
    }
  });
});

describe('sign-ins started, per address', () => {
  it('are limited (admin_console.sign_in_rate_per_minute): one too many is a 429 page with Retry-After', async () => {
    const limited = await startTestServer({ config: { admin_console: { sign_in_rate_per_minute: 2 } } });
    try {
      const agent = request.agent(limited.url);
      for (let i = 0; i < 2; i++) await agent.get('/admin/sign-in').expect(303);
      const res = await agent.get('/admin/sign-in').expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.text).toContain('Too many sign-ins from here');
      // the pages themselves are not limited: without a session they send the browser to sign in
      await agent.get('/admin').expect(303);
    } finally {
      await limited.close();
    }
  });
});
