/**
 * OpenID Connect Back-Channel Logout 1.0 from a real upstream IdP nobody here wrote (Glewlwyd 2.7, from
 * Debian; its OIDC plugin sends logout tokens when session management and back-channel logout are on,
 * scripts/glewlwyd/README.md): Alice signs in through baton, her Glewlwyd session ends, Glewlwyd posts the
 * logout token (with her `sub` and the `sid` baton recorded at sign-in) to baton, which accepts it, ends her
 * baton session (the next authorization request needs a sign-in) and, with `back_channel_logout: everything`,
 * revokes her token (inactive at introspection, its Token Status List bit set). PostgreSQL + Redis.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountIdFor } from '../src/accounts/store.ts';
import { searchEvents } from '../src/audit/store.ts';
import { STATE_CACHE_MS } from '../src/provider/token-state.ts';
import { freePort, memoryLogger, RESOURCES, startTestServer, storedStatus, type TestServer } from './helpers.ts';
import { startGlewlwyd, type Glewlwyd } from './idp/glewlwyd.ts';
import { agentAuthorizePath, AGENT_CALLBACK as CALLBACK, followRedirects, redeemAtAgentCallback } from './pages.ts';

const SECRET = 'bcl-glewlwyd-secret-0123456789abcdefgh';
let idp: Glewlwyd;
let t: TestServer | undefined;
let issuer: string;
const logs = memoryLogger();

beforeAll(async () => {
  const [port, idpPort] = [await freePort(), await freePort()];
  issuer = `http://127.0.0.1:${port}`;
  idp = await startGlewlwyd({
    port: idpPort,
    redirectUri: `${issuer}/interaction/callback/corp`,
    backchannelLogoutUri: `${issuer}/idp/corp/backchannel-logout`,
  });
  t = await startTestServer({
    backend: 'postgres+redis',
    port,
    logs,
    config: (base) => ({
      resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
      identity_providers: [
        {
          id: 'corp',
          type: 'oidc',
          display_name: 'Corp SSO',
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          // Glewlwyd does not form-decode HTTP Basic credentials (RFC 6749 §2.3.1)
          token_endpoint_auth_method: 'client_secret_post',
          back_channel_logout: 'everything',
        },
      ],
      role_bindings: { corp: { developers: ['developer'] } },
      clients: {
        static: [
          ...base.clients.static,
          {
            client_id: 'logs-mcp',
            kind: 'mcp_server',
            auth: 'client_secret_basic',
            client_secret: SECRET,
            grant_types: ['client_credentials'],
          },
        ],
      },
    }),
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await idp?.stop();
});

const authorizeUrl = (verifier: string, extra: Record<string, string> = {}) =>
  agentAuthorizePath(verifier, { scope: 'logs.read', ...extra });

/** baton → Glewlwyd's login (alice) → baton → the client's code → the access token */
async function signIn(agent: TestAgent): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const toIdp = await followRedirects(agent, authorizeUrl(verifier), (l) => l.startsWith(idp.issuer));
  expect(toIdp.stoppedAt, toIdp.page?.text).toBeDefined();
  const back = await idp.login(toIdp.stoppedAt!, 'alice', 'alice-password');
  return (await redeemAtAgentCallback(t!.url, agent, back, verifier)).access_token;
}

/** OIDC Core §3.1.2.1 `prompt=none`: `login_required` when the next authorization request needs a sign-in */
async function signedIn(agent: TestAgent): Promise<boolean> {
  const res = await agent.get(authorizeUrl(randomBytes(32).toString('base64url'), { prompt: 'none' }));
  const to = new URL(res.headers.location!);
  expect(to.origin + to.pathname).toBe(CALLBACK);
  return to.searchParams.get('error') !== 'login_required';
}

const active = async (token: string) =>
  (await request(t!.url).post('/token/introspection').auth('logs-mcp', SECRET).type('form').send({ token }).expect(200))
    .body.active === true;

describe('back-channel logout from Glewlwyd', () => {
  it('Glewlwyd ends alice’s session: baton ends hers and revokes her token', async () => {
    const agent = request.agent(t!.url);
    const token = await signIn(agent);
    // Glewlwyd's `sub` is an id of its own (not the username): the one account signed in
    const { id: account, idp_subject: sub } = await t!.server.storage
      .db('accounts')
      .where({ idp_issuer: idp.issuer })
      .first<{ id: string; idp_subject: string }>('id', 'idp_subject');
    expect(account).toBe(accountIdFor(idp.issuer, sub));
    expect(await signedIn(agent)).toBe(true);
    expect(await active(token)).toBe(true);

    const row = await t!.server.storage.db('session_logins').where({ account_id: account }).first();
    const sid = await idp.endSession('alice');
    // the sign-in recorded the IdP session its ID token named
    expect(row).toMatchObject({ idp_id: 'corp', upstream_sid: sid });
    // Glewlwyd posts the logout token from a background thread: poll for baton's record of it
    const ended = async () =>
      (await searchEvents(t!.server.storage.db, { type: 'session.ended', account, limit: 10 }))[0]?.event;
    const until = Date.now() + 10_000;
    while (Date.now() < until && !(await ended())) await sleep(50);
    expect(
      await ended(),
      logs
        .lines()
        .filter((l) => l.includes('logout.'))
        .join('\n'),
    ).toMatchObject({
      outcome: 'success',
      idp: { iss: idp.issuer, sub },
      details: { idp: 'corp', mode: 'everything', sid_sha256: createHash('sha256').update(sid).digest('base64url') },
    });

    expect(await signedIn(agent)).toBe(false);
    const stop = Date.now() + 4 * STATE_CACHE_MS + 2000;
    while (Date.now() < stop && (await active(token))) await sleep(25);
    expect(await active(token)).toBe(false);
    expect(await storedStatus(t!.server.storage.db, token)).toBe(1);
  });
});
