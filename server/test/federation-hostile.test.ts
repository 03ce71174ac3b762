/**
 * Bad input from an upstream IdP (OIDC Core §3.1.3.7): an ID token with the wrong key, `alg: none`, HS256
 * keyed with the public key, a wrong audience, issuer or nonce, expired or issued in the future, an error
 * response, or an IdP that cannot be reached: each ends on a clear page with the reason logged, never a
 * 500, and no account is stored. An IdP that refuses baton's client authentication is named as such, with
 * the setting to change; with no method configured, baton picks one the IdP lists (RFC 8414 §2).
 */
import { randomBytes, createHash } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../src/main.ts';
import { memoryLogger, startTestServer, type TestServer } from './helpers.ts';
import { startHostileIdp, type HostileIdp, type Mode } from './idp/hostile-idp.ts';
import { actionOf, csrfOf } from './pages.ts';

let idp: HostileIdp;
/** lists only client_secret_post */
let postOnly: HostileIdp;
/** does not form-decode Basic credentials (RFC 6749 §2.3.1), so a secret with `+` or `/` fails with Basic */
let rawBasic: HostileIdp;
/** a secret that form-encoding changes */
const ODD_SECRET = 'p+ss/word=' + 'x'.repeat(22);
let splitIdp: HostileIdp;
let baton: TestServer | undefined;
let server: RunningServer;
const logs = memoryLogger();

beforeAll(async () => {
  [idp, postOnly, rawBasic, splitIdp] = await Promise.all([
    startHostileIdp(),
    startHostileIdp({ clientSecret: ODD_SECRET, authMethods: ['client_secret_post'] }),
    startHostileIdp({ clientSecret: ODD_SECRET, basicDecoding: 'raw' }),
    startHostileIdp(),
  ]);
  baton = await startTestServer({
    backend: 'postgres',
    logs,
    config: {
      identity_providers: [
        {
          id: 'hostile',
          type: 'oidc',
          display_name: 'Hostile IdP',
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: 'x'.repeat(32),
        },
        {
          id: 'post-only',
          type: 'oidc',
          display_name: 'Post-only IdP',
          issuer: postOnly.issuer,
          client_id: postOnly.clientId,
          client_secret: ODD_SECRET,
        },
        {
          id: 'raw-basic-post',
          type: 'oidc',
          display_name: 'Raw-basic IdP, post',
          issuer: rawBasic.issuer,
          client_id: rawBasic.clientId,
          client_secret: ODD_SECRET,
          token_endpoint_auth_method: 'client_secret_post',
        },
        {
          id: 'raw-basic',
          type: 'oidc',
          display_name: 'Raw-basic IdP',
          issuer: rawBasic.issuer,
          client_id: rawBasic.clientId,
          client_secret: ODD_SECRET,
        },
        {
          // its keys are at jwks_uri, not at the discovery document's: sign-in must use the configured ones
          id: 'split',
          type: 'oidc',
          display_name: 'Split-keys IdP',
          issuer: splitIdp.issuer,
          client_id: splitIdp.clientId,
          client_secret: 'x'.repeat(32),
          jwks_uri: splitIdp.altJwksUri,
        },
        {
          id: 'down',
          type: 'oidc',
          display_name: 'Down IdP',
          issuer: 'http://127.0.0.1:9',
          client_id: 'c',
          email_domains: ['down.example.com'],
        },
      ],
      role_bindings: { hostile: { oncall: ['sre'] }, split: { oncall: ['sre'] } },
    },
  });
  server = baton.server;
});
afterAll(async () => {
  await baton?.close();
  await Promise.all([idp?.stop(), postOnly?.stop(), rawBasic?.stop(), splitIdp?.stop()]);
});

/** why each is refused (openid-client catches most; baton's own jose check catches the wrong key) */
const REASONS: Record<Mode, string> = {
  good: '',
  'wrong-key': 'invalid_id_token: ID token rejected: ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'alg-none': 'OAUTH_INVALID_RESPONSE',
  'hs256-public-key': 'OAUTH_INVALID_RESPONSE',
  'wrong-aud': 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'wrong-iss': 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'wrong-nonce': 'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  expired: 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  future: '"iat" claim timestamp check failed',
  error: 'idp_error: the IdP answered invalid_grant',
  'alt-key': 'invalid_id_token: ID token rejected: ERR_JWKS_NO_MATCHING_KEY',
};

const accountCount = async () =>
  Number((await server.storage.db('accounts').count<{ count: string }[]>('* as count'))[0]!.count);

async function attempt(mode: Mode, via: { id: string; idp: HostileIdp } = { id: 'hostile', idp }) {
  const agent = request.agent(server.url);
  const verifier = randomBytes(32).toString('base64url');
  const auth = `/auth?${new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: 'http://127.0.0.1/callback',
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: 'client-state',
    resource: 'https://logs.mcp.example.com/mcp',
  }).toString()}`;
  const toInteraction = await agent.get(auth).expect(303);
  const chooser = await agent.get(toInteraction.headers.location!).expect(200);
  const [action, csrf] = [actionOf(chooser.text), csrfOf(chooser.text)];
  const toIdp = await agent.post(action).type('form').send({ csrf, idp: via.id }).expect(303);
  const upstream = new URL(toIdp.headers.location!);
  expect(upstream.origin).toBe(via.idp.issuer);
  via.idp.next(mode, upstream.searchParams.get('nonce')!);
  const callback = await agent
    .get(`/interaction/callback/${via.id}?code=abc&state=${upstream.searchParams.get('state')}`)
    .expect(303);
  return agent.get(callback.headers.location!.replace('http://127.0.0.1:9400', ''));
}

describe('a hostile upstream IdP', () => {
  it('the fixture works: a good ID token signs Mallory in', async () => {
    const res = await attempt('good');
    expect(res.status).toBe(303);
    expect(await accountCount()).toBe(1);
    await server.storage.db('accounts').delete();
  });

  it.each<Mode>([
    'wrong-key',
    'alg-none',
    'hs256-public-key',
    'wrong-aud',
    'wrong-iss',
    'wrong-nonce',
    'expired',
    'future',
    'error',
    'alt-key',
  ])('an ID token response with %s ends on a clear 400 page, nothing stored', async (mode) => {
    const before = logs.lines().length;
    const res = await attempt(mode);
    expect(res.status).toBe(400);
    expect(res.text).toContain('Hostile IdP did not confirm your sign-in.');
    expect(await accountCount()).toBe(0);
    const refused = logs
      .lines()
      .slice(before)
      .find((l) => l.includes('"msg":"interaction.refused"'));
    expect(refused).toBeDefined();
    expect(refused).not.toContain('at-from-hostile');
    expect((JSON.parse(refused!) as { reason: string }).reason).toContain(REASONS[mode]);
  });

  it("an IdP's jwks_uri is its key source at sign-in: its key signs in, the discovery document's does not", async () => {
    const split = { id: 'split', idp: splitIdp };
    const signedIn = await attempt('alt-key', split);
    expect(signedIn.status).toBe(303);
    expect(await accountCount()).toBe(1);
    await server.storage.db('accounts').delete();
    const before = logs.lines().length;
    const refused = await attempt('good', split);
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('Split-keys IdP did not confirm your sign-in.');
    expect(await accountCount()).toBe(0);
    const line = logs
      .lines()
      .slice(before)
      .find((l) => l.includes('"msg":"interaction.refused"'));
    expect((JSON.parse(line!) as { reason: string }).reason).toContain('ERR_JWKS_NO_MATCHING_KEY');
  });

  it('an unreachable IdP is a clear 502 page', async () => {
    const agent = request.agent(server.url);
    const auth = `/auth?${new URLSearchParams({
      client_id: 'ide-agent',
      redirect_uri: 'http://127.0.0.1/callback',
      response_type: 'code',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
      resource: 'https://logs.mcp.example.com/mcp',
      login_hint: 'someone@down.example.com',
    }).toString()}`;
    const toInteraction = await agent.get(auth).expect(303);
    const page = await agent.get(toInteraction.headers.location!);
    expect(page.status).toBe(502);
    expect(page.text).toContain('Down IdP cannot be reached right now.');
  });

  it('with no token_endpoint_auth_method, baton uses the one the IdP lists (client_secret_post)', async () => {
    const res = await attempt('good', { id: 'post-only', idp: postOnly });
    expect(res.status).toBe(303);
    expect(await accountCount()).toBe(1);
    await server.storage.db('accounts').delete();
  });

  it('an IdP that refuses the client authentication: the log names the method and the setting to try', async () => {
    const before = logs.lines().length;
    const res = await attempt('good', { id: 'raw-basic', idp: rawBasic });
    expect(res.status).toBe(400);
    expect(res.text).toContain(
      'Raw-basic IdP did not accept the credentials of this sign-in service. An administrator must fix its ' +
        'settings before anyone can sign in with Raw-basic IdP.',
    );
    expect(await accountCount()).toBe(0);
    const refused = logs
      .lines()
      .slice(before)
      .find((l) => l.includes('"msg":"interaction.refused"'));
    expect((JSON.parse(refused!) as { reason: string }).reason).toBe(
      "client_auth_refused: the IdP refused baton's client authentication (client_secret_basic): invalid_client — " +
        'client authentication failed; check the client secret, or try ' +
        'identity_providers[].token_endpoint_auth_method: client_secret_post',
    );
    expect(refused).not.toContain(ODD_SECRET);
  });

  it('the advice works: token_endpoint_auth_method client_secret_post signs in at the same IdP', async () => {
    const res = await attempt('good', { id: 'raw-basic-post', idp: rawBasic });
    expect(res.status).toBe(303);
    expect(await accountCount()).toBe(1);
    await server.storage.db('accounts').delete();
  });
});
