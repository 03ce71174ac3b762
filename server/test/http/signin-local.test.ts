/**
 * Sign-in with the local directory, driven over HTTP like a browser without JavaScript: the authorization
 * code flow of the MCP authorization spec (PKCE S256, `resource` on both requests), role → scope mapping
 * (Alice: logs.read, never incidents.trigger; Bob: incidents.trigger), consent for third-party clients,
 * "nothing grantable", disabled accounts, and the hostile inputs of the pages.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import { BACKENDS, batonOn, memoryLogger, PARTNER_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { actionOf, csrfOf, followRedirects } from '../pages.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
let baton: TestServer | undefined;
let server: RunningServer;
const logs = memoryLogger();

beforeAll(async () => {
  baton = await startTestServer({ backend: 'postgres+redis', logs });
  server = baton.server;
});
afterAll(async () => {
  await baton?.close();
});

interface Flow {
  agent: TestAgent;
  verifier: string;
  state: string;
  clientId: string;
  redirectUri: string;
}

function authorize(
  opts: {
    clientId?: string;
    redirectUri?: string;
    scope?: string;
    resource?: string;
    extra?: Record<string, string>;
  } = {},
) {
  const agent = request.agent(server.url);
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const clientId = opts.clientId ?? 'ide-agent';
  const redirectUri = opts.redirectUri ?? 'http://127.0.0.1/callback';
  const query = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    resource: opts.resource ?? LOGS,
    ...(opts.scope !== undefined ? { scope: opts.scope } : {}),
    ...opts.extra,
  });
  return { flow: { agent, verifier, state, clientId, redirectUri }, url: `/auth?${query.toString()}` };
}

/** Follows baton's redirects (same origin) until the client's redirect URI; returns its URL. */
async function follow(flow: Flow, location: string): Promise<{ url?: URL; page?: request.Response }> {
  const { stoppedAt, page } = await followRedirects(flow.agent, location, (l) => l.startsWith(flow.redirectUri));
  return stoppedAt ? { url: new URL(stoppedAt) } : { page };
}

async function signIn(username: string, password: string, opts: Parameters<typeof authorize>[0] = {}) {
  const { flow, url } = authorize(opts);
  const first = await follow(flow, url);
  const page = first.page!;
  expect(page.status).toBe(200);
  expect(page.text).toContain('Sign in to Example Corp');
  const res = await flow.agent
    .post(actionOf(page.text))
    .type('form')
    .send({ csrf: csrfOf(page.text), username, password });
  if (res.status !== 303) return { flow, res };
  return { flow, res, ...(await follow(flow, res.headers.location!)) };
}

async function redeem(flow: Flow, code: string) {
  const req = request(server.url).post('/token');
  if (flow.clientId === 'partner-app') void req.auth('partner-app', PARTNER_SECRET);
  return req.type('form').send({
    grant_type: 'authorization_code',
    code,
    code_verifier: flow.verifier,
    redirect_uri: flow.redirectUri,
    client_id: flow.clientId,
    resource: LOGS,
  });
}

describe('local directory sign-in, first-party client', () => {
  it('Alice the developer gets logs.read and never incidents.trigger', async () => {
    const { flow, url } = await signIn('alice', 'alice-password', { scope: 'logs.read incidents.trigger' });
    expect(url!.searchParams.get('state')).toBe(flow.state);
    expect(url!.searchParams.get('iss')).toBe('http://127.0.0.1:9400'); // RFC 9207
    const tokens = await redeem(flow, url!.searchParams.get('code')!);
    expect(tokens.status).toBe(200);
    expect(tokens.body.scope).toBe('logs.read');
    const at = decodeJwt(tokens.body.access_token);
    expect(at).toMatchObject({
      aud: LOGS,
      client_id: 'ide-agent',
      scope: 'logs.read',
      client_kind: 'agent',
      idp: { iss: 'urn:baton:idp:local', sub: 'alice' },
      roles: ['developer'],
    });
    expect(at.sub).toMatch(/^u_[A-Za-z0-9_-]{24}$/);
    expect(typeof at.auth_time).toBe('number');
    expect(at.exp! - at.iat!).toBe(300);
  });

  it('Bob the SRE gets incidents.trigger', async () => {
    const { flow, url } = await signIn('bob', 'bob-password', { scope: 'incidents.trigger' });
    const tokens = await redeem(flow, url!.searchParams.get('code')!);
    expect(tokens.body.scope).toBe('incidents.trigger');
    expect(decodeJwt(tokens.body.access_token)).toMatchObject({ roles: ['sre'], idp: { sub: 'bob' } });
  });

  it('no scope requested: everything the roles allow on the resource (MCP scope selection)', async () => {
    const { flow, url } = await signIn('bob', 'bob-password');
    const tokens = await redeem(flow, url!.searchParams.get('code')!);
    expect(tokens.body.scope).toBe('logs.read logs.debug.write incidents.trigger');
  });

  it('the same subject every time for the same IdP user', async () => {
    const a = await signIn('alice', 'alice-password', { scope: 'logs.read' });
    const b = await signIn('alice', 'alice-password', { scope: 'logs.read' });
    const subA = decodeJwt((await redeem(a.flow, a.url!.searchParams.get('code')!)).body.access_token).sub;
    const subB = decodeJwt((await redeem(b.flow, b.url!.searchParams.get('code')!)).body.access_token).sub;
    expect(subA).toBe(subB);
  });

  it('a user whose roles grant nothing sees a clear page, then the client gets access_denied', async () => {
    const { flow, page } = await signIn('carol', 'carol-password', { scope: 'logs.read' });
    expect(page!.status).toBe(403);
    expect(page!.text).toContain('No access');
    expect(page!.text).toContain('with no role');
    const back = await flow.agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text) })
      .expect(303);
    const { url } = await follow(flow, back.headers.location!);
    expect(url!.searchParams.get('error')).toBe('access_denied');
    expect(url!.searchParams.get('state')).toBe(flow.state);
  });

  it('a wrong password shows the form again with an error, and logs why', async () => {
    const { res } = await signIn('alice', 'wrong-password');
    expect(res.status).toBe(401);
    expect(res.text).toContain('Wrong username or password.');
    expect(logs.lines().join('\n')).toMatch(/"reason":"wrong password".*"msg":"login.failed"/);
    expect(logs.lines().join('\n')).not.toContain('wrong-password');
    const { res: unknown } = await signIn('mallory', 'x');
    expect(unknown.status).toBe(401);
    expect(unknown.text).toContain('Wrong username or password.');
    // a password typed into the username field never reaches the logs: an unknown name is a short hash
    await signIn('Tr0ub4dor&3-in-the-wrong-field', 'x');
    const lines = logs.lines().join('\n');
    expect(lines).not.toContain('Tr0ub4dor');
    expect(lines).not.toContain('mallory');
    expect(lines).toMatch(/"username_sha256":"[0-9a-f]{16}","reason":"unknown user","msg":"login.failed"/);
    expect(lines).toMatch(/"username":"alice","reason":"wrong password","msg":"login.failed"/);
  });

  it('a disabled account cannot sign in and its refresh token stops working', async () => {
    const { flow, url } = await signIn('alice', 'alice-password', { scope: 'logs.read' });
    const tokens = await redeem(flow, url!.searchParams.get('code')!);
    const account = decodeJwt(tokens.body.access_token).sub!;
    await server.accounts.setDisabled(account, true);
    try {
      const refresh = await request(server.url).post('/token').type('form').send({
        grant_type: 'refresh_token',
        refresh_token: tokens.body.refresh_token,
        client_id: 'ide-agent',
        resource: LOGS,
      });
      expect(refresh.status).toBe(400);
      expect(refresh.body.error).toBe('invalid_grant');
      const again = await signIn('alice', 'alice-password', { scope: 'logs.read' });
      expect(again.page?.status ?? again.res.status).toBe(403);
    } finally {
      await server.accounts.setDisabled(account, false);
    }
  });
});

describe('third-party client: consent', () => {
  it('asks once per (user, client, resource), names client and redirect host, and remembers', async () => {
    const opts = {
      clientId: 'partner-app',
      redirectUri: 'https://partner.example.com/cb',
      scope: 'logs.read incidents.trigger',
    };
    const { flow, page } = await signIn('alice', 'alice-password', opts);
    expect(page!.status).toBe(200);
    expect(page!.text).toContain('Allow Partner dashboard to act for you?');
    expect(page!.text).toContain('<strong>partner.example.com</strong>');
    expect(page!.text).toContain('<code>logs.read</code>');
    expect(page!.text).toMatch(/Not included \(your roles do not allow it\): <code>incidents.trigger<\/code>/);
    const allowed = await flow.agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text), decision: 'allow' })
      .expect(303);
    const { url } = await follow(flow, allowed.headers.location!);
    const tokens = await redeem(flow, url!.searchParams.get('code')!);
    expect(tokens.body.scope).toBe('logs.read');
    expect(decodeJwt(tokens.body.access_token)).toMatchObject({ client_id: 'partner-app', client_kind: 'app' });

    // the next time (same browser session): remembered, no consent page
    const second = authorize(opts);
    second.flow.agent = flow.agent;
    const { url: url2 } = await follow(second.flow, second.url);
    expect(url2!.searchParams.get('code')).toBeTruthy();

    // revoked: asked again
    const account = decodeJwt(tokens.body.access_token).sub!;
    expect(await server.accounts.revokeConsents(account, 'partner-app')).toBe(1);
    const third = authorize(opts);
    third.flow.agent = flow.agent;
    const { page: again } = await follow(third.flow, third.url);
    expect(again!.text).toContain('Allow Partner dashboard');
  });

  it('a third-party native client is asked every time (RFC 8252 §8.6: its identity cannot be assured)', async () => {
    const opts = { clientId: 'third-party-agent', redirectUri: 'http://127.0.0.1/tp-callback', scope: 'logs.read' };
    const { flow, page } = await signIn('alice', 'alice-password', opts);
    expect(page!.text).toContain('Allow Third-party agent to act for you?');
    expect(page!.text).toContain(
      'The agent <strong>Third-party agent</strong>, which returns to <strong>127.0.0.1</strong>',
    );
    const allowed = await flow.agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text), decision: 'allow' })
      .expect(303);
    const { url } = await follow(flow, allowed.headers.location!);
    expect((await redeem(flow, url!.searchParams.get('code')!)).body.scope).toBe('logs.read');
    const second = authorize(opts);
    second.flow.agent = flow.agent;
    const { page: again } = await follow(second.flow, second.url);
    expect(again!.text).toContain('Allow Third-party agent');
  });

  it('deny returns access_denied to the client', async () => {
    const { flow, page } = await signIn('bob', 'bob-password', {
      clientId: 'third-party-agent',
      redirectUri: 'http://127.0.0.1/tp-callback',
    });
    const denied = await flow.agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text), decision: 'deny' })
      .expect(303);
    const { url } = await follow(flow, denied.headers.location!);
    expect(url!.searchParams.get('error')).toBe('access_denied');
  });

  it('a consent post without the CSRF token is refused', async () => {
    const { flow, page } = await signIn('bob', 'bob-password', {
      clientId: 'third-party-agent',
      redirectUri: 'http://127.0.0.1/tp-callback',
    });
    const res = await flow.agent.post(actionOf(page!.text)).type('form').send({ decision: 'allow', csrf: 'forged' });
    expect(res.status).toBe(403);
    expect(res.text).toContain('The form expired');
  });
});

describe('hostile input at the authorization endpoint and the pages', () => {
  it('an unknown resource is invalid_target, redirected to the client with state', async () => {
    const { flow, url } = authorize({ resource: 'https://evil.example.com', scope: 'logs.read' });
    const res = await flow.agent.get(url).expect(303);
    const to = new URL(res.headers.location!);
    expect(to.origin + to.pathname).toBe('http://127.0.0.1/callback');
    expect(to.searchParams.get('error')).toBe('invalid_target');
    expect(to.searchParams.get('state')).toBe(flow.state);
  });

  it('an unregistered redirect_uri is never redirected to (no open redirect)', async () => {
    const { flow, url } = authorize({ redirectUri: 'https://evil.example.com/cb' });
    const res = await flow.agent.get(url).set('accept', 'text/html');
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.text).toContain('invalid_redirect_uri');
  });

  it('PKCE is required (OAuth 2.1): no code_challenge → invalid_request to the client', async () => {
    const { flow, url } = authorize();
    const res = await flow.agent.get(url.replace(/&code_challenge=[^&]+/, '')).expect(303);
    const to = new URL(res.headers.location!);
    expect(to.searchParams.get('error')).toBe('invalid_request');
    expect(to.searchParams.get('error_description')).toMatch(/code_challenge/);
  });

  it('plain PKCE is refused', async () => {
    const { flow, url } = authorize();
    const res = await flow.agent
      .get(url.replace('code_challenge_method=S256', 'code_challenge_method=plain'))
      .expect(303);
    expect(new URL(res.headers.location!).searchParams.get('error')).toBe('invalid_request');
  });

  it('an interaction page without its cookie (another browser) is a clear 400 page', async () => {
    const { flow, url } = authorize();
    const res = await flow.agent.get(url).expect(303);
    const other = await request(server.url).get(res.headers.location!);
    expect(other.status).toBe(400);
    expect(other.text).toContain('This sign-in page has expired or was opened in another browser.');
  });

  it('a tampered interaction cookie is a clear 400 page', async () => {
    const { flow, url } = authorize();
    const res = await flow.agent.get(url).expect(303);
    const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!);
    const tampered = cookies
      .map((c) => (c.startsWith('_interaction=') ? `_interaction=${'x'.repeat(21)}` : c))
      .join('; ');
    const page = await request(server.url).get(res.headers.location!).set('Cookie', tampered);
    expect(page.status).toBe(400);
  });

  it('an unknown upstream callback state is a clear 400 page', async () => {
    const res = await request(server.url).get('/interaction/callback/local?state=nope&code=x');
    expect(res.status).toBe(400);
    expect(res.text).toContain('This sign-in has expired or was already completed.');
  });

  it('the pages are framed by nobody and load nothing external', async () => {
    const { flow, url } = authorize();
    const { page } = await follow(flow, url);
    expect(page!.headers['x-frame-options']).toBe('DENY');
    expect(page!.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page!.text).not.toMatch(/<script|https?:\/\/(?!127\.0\.0\.1)/);
    // no script may run on them at all
    expect(page!.headers['content-security-policy']).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    );
  });

  it("response_mode=form_post: the policy allows exactly the page's own inline script, by its hash", async () => {
    // oidc-provider names its script's hash (the seam, provider/internals.ts): an upgrade that changes how
    // fails here, and in the browser test (server/test/browser/self-submitting.test.ts)
    const { flow, page } = await signIn('alice', 'alice-password', { extra: { response_mode: 'form_post' } });
    expect(page!.status).toBe(200);
    expect(page!.text).toContain(`<form method="post" action="${flow.redirectUri}">`);
    expect(page!.text).toContain(`<input type="hidden" name="state" value="${flow.state}"/>`);
    const scripts = [...page!.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const hash = createHash('sha256').update(scripts[0]!).digest('base64');
    expect(page!.headers['content-security-policy']).toBe(
      `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; script-src 'sha256-${hash}'`,
    );
  });
});

describe('password guessing (login_throttle)', () => {
  it('after per_user failures, even the right password is refused for the window (429, Retry-After); others sign in', async () => {
    for (let i = 0; i < 5; i++) {
      const { res } = await signIn('carol', `guess-${i}`);
      expect(res.status).toBe(401);
    }
    const { res } = await signIn('carol', 'carol-password');
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(res.text).toContain('Too many failed sign-ins. Try again in 15 minutes.');
    expect(logs.lines().join('\n')).toMatch(/"username":"carol".*"msg":"login.throttled"/);
    // the same address, another user: still fine (5 failures are far below per_ip)
    const alice = await signIn('alice', 'alice-password');
    expect(alice.url?.searchParams.get('code')).toBeTruthy();
  });
});

describe('password guessing per address (login_throttle.per_ip)', () => {
  const strict = batonOn(BACKENDS[0]!, { login_throttle: { per_user: 100, per_ip: 3, window_seconds: 60 } });

  it('after per_ip failures from one address, every user is refused for the window', async () => {
    const original = server;
    server = strict.server; // the helpers above talk to `server`
    try {
      for (const name of ['nobody-1', 'nobody-2', 'nobody-3']) expect((await signIn(name, 'x')).res.status).toBe(401);
      const { res } = await signIn('alice', 'alice-password');
      expect(res.status).toBe(429);
      expect(res.text).toContain('Too many failed sign-ins. Try again in 1 minute.');
    } finally {
      server = original;
    }
  });
});
