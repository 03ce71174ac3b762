/**
 * Federation end to end against a real upstream OpenID Connect IdP that nobody here wrote (Glewlwyd, from
 * Debian): home-realm discovery by email domain with two IdPs configured, the upstream code flow (PKCE,
 * state, nonce, ID token checks), groups → roles → scopes, and a group removed at the IdP gone from the
 * scope at the next baton refresh.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../src/audit/store.ts';
import type { RunningServer } from '../src/main.ts';
import { adminStoresOf, LOCAL_IDP, memoryLogger, RESOURCES, startTestServer, type TestServer } from './helpers.ts';
import { runOperation } from '../src/admin/operations.ts';
import type { AccessMatrix, PersonAccess } from '../src/policy/access-matrix.ts';
import { startGlewlwyd, type Glewlwyd } from './idp/glewlwyd.ts';
import { csrfOf, followRedirects } from './pages.ts';

const PORT = 9461;
const ISSUER = `http://127.0.0.1:${PORT}`;
const LOGS = 'https://logs.mcp.example.com/mcp';
const ANALYTICS = 'https://analytics.mcp.example.com/mcp';
let idp: Glewlwyd;
let baton: TestServer | undefined;
let server: RunningServer;
const logs = memoryLogger();

beforeAll(async () => {
  idp = await startGlewlwyd({ port: 9032, redirectUri: `${ISSUER}/interaction/callback/corp` });
  const config = {
    resources: [...RESOURCES, { uri: ANALYTICS, name: 'Analytics (MCP)', scopes: ['analytics.query'] }],
    identity_providers: [
      {
        id: 'corp',
        type: 'oidc',
        display_name: 'Corp SSO',
        issuer: idp.issuer,
        client_id: idp.clientId,
        client_secret: idp.clientSecret,
        // Glewlwyd does not form-decode HTTP Basic credentials (RFC 6749 §2.3.1), so a secret with a '-' fails
        token_endpoint_auth_method: 'client_secret_post',
        email_domains: ['example.com'],
      },
      { ...LOCAL_IDP, email_domains: ['contractors.example.org'] },
    ],
    role_bindings: { corp: { developers: ['developer'], oncall: ['sre'] }, local: { developers: ['developer'] } },
  };
  baton = await startTestServer({ backend: 'postgres+redis', port: PORT, logs, config });
  server = baton.server;
}, 120_000);
afterAll(async () => {
  await baton?.close();
  await idp?.stop();
});

interface Flow {
  agent: TestAgent;
  verifier: string;
  state: string;
}

function authorizeUrl(flow: Flow, resource: string, scope?: string, extra: Record<string, string> = {}) {
  return `/auth?${new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: 'http://127.0.0.1/callback',
    response_type: 'code',
    code_challenge: createHash('sha256').update(flow.verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: flow.state,
    resource,
    ...(scope ? { scope } : {}),
    ...extra,
  }).toString()}`;
}

const newFlow = (): Flow => ({
  agent: request.agent(server.url),
  verifier: randomBytes(32).toString('base64url'),
  state: randomBytes(8).toString('hex'),
});
const pathOf = (location: string) => (location.startsWith(ISSUER) ? location.slice(ISSUER.length) : location);

/** Follows baton's redirects; stops at the upstream IdP (returns its URL) or at the client (returns the code). */
async function follow(
  flow: Flow,
  location: string,
): Promise<{ idpUrl?: string; client?: URL; page?: request.Response }> {
  const toClient = (l: string) => l.startsWith('http://127.0.0.1/callback');
  const { stoppedAt, page } = await followRedirects(
    flow.agent,
    location,
    (l) => toClient(l) || l.startsWith(idp.issuer),
    12,
  );
  if (stoppedAt === undefined) return { page };
  return toClient(stoppedAt) ? { client: new URL(stoppedAt) } : { idpUrl: stoppedAt };
}

/** The chooser → email → Glewlwyd login → back to baton → the client's code. */
async function signInAtCorp(flow: Flow, user: string, resource: string, scope?: string): Promise<URL> {
  const chooser = await follow(flow, authorizeUrl(flow, resource, scope));
  expect(chooser.page!.text).toContain('Continue with Corp SSO');
  const action = /<form method="post" action="([^"]+)"/.exec(chooser.page!.text)![1]!;
  const routed = await flow.agent
    .post(action)
    .type('form')
    .send({ csrf: csrfOf(chooser.page!.text), email: `${user}@example.com` });
  expect(routed.status).toBe(303);
  const upstream = new URL(routed.headers.location!);
  expect(upstream.origin + upstream.pathname).toBe(`${idp.issuer}/auth`);
  expect(upstream.searchParams.get('code_challenge_method')).toBe('S256');
  expect(upstream.searchParams.get('login_hint')).toBe(`${user}@example.com`);
  const back = await idp.login(upstream.href, user, `${user}-password`);
  const done = await follow(flow, back);
  expect(
    done.client,
    logs
      .lines()
      .filter((l) => l.includes('refused'))
      .join('\n'),
  ).toBeDefined();
  return done.client!;
}

async function redeem(flow: Flow, code: string, resource: string) {
  return request(server.url)
    .post('/token')
    .type('form')
    .send({
      grant_type: 'authorization_code',
      code,
      code_verifier: flow.verifier,
      redirect_uri: 'http://127.0.0.1/callback',
      client_id: 'ide-agent',
      resource,
    })
    .expect(200);
}

const refresh = (refreshToken: string, resource: string) =>
  request(server.url).post('/token').type('form').send({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: 'ide-agent',
    resource,
  });

describe('federation with a real upstream IdP (Glewlwyd)', () => {
  it('a developers user gets logs.read (refused incidents.trigger) and analytics.query', async () => {
    const flow = newFlow();
    const url = await signInAtCorp(flow, 'alice', LOGS, 'logs.read incidents.trigger');
    const tokens = await redeem(flow, url.searchParams.get('code')!, LOGS);
    expect(tokens.body.scope).toBe('logs.read');
    const at = decodeJwt(tokens.body.access_token) as { sub: string; auth_time: number; idp: unknown };
    expect(at).toMatchObject({
      scope: 'logs.read',
      roles: ['developer'],
      idp: { iss: idp.issuer, sub: expect.any(String) as string },
    });
    // the sign-in's audit record: the IdP, the person there, the auth_time the token carries (issue #13)
    const [signedIn] = await searchEvents(server.storage.db, { type: 'login.success', account: at.sub, limit: 1 });
    expect(signedIn?.event).toMatchObject({
      client: 'ide-agent',
      idp: at.idp,
      details: { idp: 'corp', auth_time: at.auth_time },
    });
    // single sign-on: the session at baton serves the next resource without another IdP round trip; the
    // agent is a native client, so the user confirms on baton's page (RFC 8252 §8.6)
    const flow2: Flow = { ...newFlow(), agent: flow.agent };
    const confirm = await follow(flow2, authorizeUrl(flow2, ANALYTICS));
    expect(confirm.page!.text).toContain('<code>analytics.query</code>');
    const action = /<form method="post" action="([^"]+)"/.exec(confirm.page!.text)![1]!;
    const allowed = await flow2.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(confirm.page!.text), decision: 'allow' });
    const again = await follow(flow2, allowed.headers.location!);
    const analytics = await redeem(flow2, again.client!.searchParams.get('code')!, ANALYTICS);
    expect(analytics.body.scope).toBe('analytics.query');
  });

  it('an oncall user gets incidents.trigger', async () => {
    const flow = newFlow();
    const url = await signInAtCorp(flow, 'bob', LOGS, 'incidents.trigger');
    const tokens = await redeem(flow, url.searchParams.get('code')!, LOGS);
    expect(tokens.body.scope).toBe('incidents.trigger');
    expect(decodeJwt(tokens.body.access_token).roles).toEqual(['sre']);
  });

  it("the access matrix says what the IdP's users get: each one's scopes are their token's, by their group", async () => {
    const stores = adminStoresOf(baton!);
    const matrix = (await runOperation(stores, 'access.matrix', {})) as AccessMatrix;
    const inGroup = (group: string) =>
      matrix.resources
        .find((r) => r.uri === LOGS)!
        .scopes.flatMap((s) => s.roles.flatMap((r) => r.groups))
        .filter((g) => g.idp === 'corp' && g.group === group)
        .flatMap((g) => g.accounts.map((a) => a.id));
    for (const [user, group] of [
      ['alice', 'developers'],
      ['bob', 'oncall'],
    ] as const) {
      // no scope asked: all of the resource's (MCP scope selection), narrowed to what the roles grant
      const flow = newFlow();
      const url = await signInAtCorp(flow, user, LOGS);
      const tokens = await redeem(flow, url.searchParams.get('code')!, LOGS);
      const claims = decodeJwt(tokens.body.access_token) as { sub: string; idp: { sub: string } };
      const person = (await runOperation(stores, 'access.person', { account: claims.sub })) as PersonAccess;
      expect(person.account).toMatchObject({ idp: 'corp', subject: claims.idp.sub, groups: [group] });
      const listed = person.resources.find((r) => r.uri === LOGS)!.scopes.map((s) => s.scope);
      expect(listed.sort()).toEqual(String(tokens.body.scope).split(' ').sort());
      expect(inGroup(group)).toContain(claims.sub);
    }
  });

  it('removing a group at the IdP removes the scope at the next refresh', async () => {
    await idp.setGroups('alice', ['developers', 'oncall']);
    try {
      const flow = newFlow();
      const url = await signInAtCorp(flow, 'alice', LOGS, 'logs.read incidents.trigger');
      const tokens = await redeem(flow, url.searchParams.get('code')!, LOGS);
      expect(tokens.body.scope).toBe('logs.read incidents.trigger');
      const r1 = await refresh(tokens.body.refresh_token, LOGS).expect(200);
      expect(r1.body.scope).toBe('logs.read incidents.trigger');

      await idp.setGroups('alice', ['developers']);
      const r2 = await refresh(r1.body.refresh_token, LOGS).expect(200);
      expect(r2.body.scope).toBe('logs.read');
      expect(decodeJwt(r2.body.access_token)).toMatchObject({ scope: 'logs.read', roles: ['developer'] });
    } finally {
      await idp.setGroups('alice', ['developers']);
    }
  });

  it('routes by email domain: another domain goes to the local directory', async () => {
    const flow = newFlow();
    const chooser = await follow(flow, authorizeUrl(flow, LOGS));
    const action = /<form method="post" action="([^"]+)"/.exec(chooser.page!.text)![1]!;
    const routed = await flow.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(chooser.page!.text), email: 'alice@contractors.example.org' });
    expect(routed.status).toBe(200);
    expect(routed.text).toContain('Sign in to Example Corp');
    const unknown = await flow.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(chooser.page!.text), email: 'eve@elsewhere.example.net' });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('No sign-in provider is set up for that email domain.');
  });

  it('login_hint routes straight to the IdP of its domain', async () => {
    const flow = newFlow();
    const res = await flow.agent.get(authorizeUrl(flow, LOGS, undefined, { login_hint: 'bob@example.com' }));
    const interaction = await flow.agent.get(pathOf(res.headers.location!));
    expect(interaction.status).toBe(303);
    expect(interaction.headers.location!.startsWith(`${idp.issuer}/auth?`)).toBe(true);
  });

  it('a replayed upstream callback is refused, and nothing is issued', async () => {
    const flow = newFlow();
    const chooser = await follow(flow, authorizeUrl(flow, LOGS, 'logs.read'));
    const action = /<form method="post" action="([^"]+)"/.exec(chooser.page!.text)![1]!;
    const routed = await flow.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(chooser.page!.text), idp: 'corp' });
    const back = await idp.login(routed.headers.location!, 'alice', 'alice-password');
    const done = await follow(flow, back);
    expect(done.client?.searchParams.get('code')).toBeTruthy();
    const replay = await follow(flow, back);
    expect(replay.page!.status).toBe(400);
    expect(replay.page!.text).toContain('This sign-in has expired or was already completed.');
  });

  it('an IdP error response ends on a clear page, with the reason logged', async () => {
    const flow = newFlow();
    const chooser = await follow(flow, authorizeUrl(flow, LOGS, 'logs.read'));
    const action = /<form method="post" action="([^"]+)"/.exec(chooser.page!.text)![1]!;
    const routed = await flow.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(chooser.page!.text), idp: 'corp' });
    const state = new URL(routed.headers.location!).searchParams.get('state')!;
    const res = await follow(
      flow,
      `${ISSUER}/interaction/callback/corp?error=access_denied&error_description=nope&state=${state}`,
    );
    expect(res.page!.status).toBe(400);
    expect(res.page!.text).toContain('Corp SSO did not confirm your sign-in.');
    expect(logs.lines().join('\n')).toMatch(/idp_error: the IdP answered access_denied/);
    const failed = await searchEvents(server.storage.db, { type: 'login.failed', limit: 100 });
    expect(failed.at(-1)?.event).toMatchObject({
      outcome: 'refused',
      client: 'ide-agent',
      reason: 'upstream_refused',
      details: { idp: 'corp' },
    });
  });

  it('a wrong state (CSRF at the callback) is refused', async () => {
    const flow = newFlow();
    const chooser = await follow(flow, authorizeUrl(flow, LOGS, 'logs.read'));
    const action = /<form method="post" action="([^"]+)"/.exec(chooser.page!.text)![1]!;
    await flow.agent
      .post(action)
      .type('form')
      .send({ csrf: csrfOf(chooser.page!.text), idp: 'corp' });
    const res = await follow(flow, `${ISSUER}/interaction/callback/corp?code=abc&state=forged`);
    expect(res.page!.status).toBe(400);
  });
});
