/** Proves the Glewlwyd harness: a real upstream IdP, authorization code + PKCE, groups in the ID token. */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGlewlwyd, type Glewlwyd } from './glewlwyd.ts';

const PORT = 9031;
const REDIRECT = 'http://127.0.0.1:4555/cb';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  code_challenge_methods_supported: string[];
}
interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  token_type: string;
  scope: string;
}

const b64url = (buf: Buffer): string => buf.toString('base64url');
const decodePayload = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

let idp: Glewlwyd;
let discovery: Discovery;

beforeAll(async () => {
  idp = await startGlewlwyd({ port: PORT, redirectUri: REDIRECT });
  const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  discovery = (await res.json()) as Discovery;
}, 120_000);

afterAll(async () => {
  await idp?.stop();
});

async function tokenRequest(params: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(
        `${encodeURIComponent(idp.clientId)}:${encodeURIComponent(idp.clientSecret)}`,
      ).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: await res.text() };
}

/** A relying party's authorization request, the user's login at the IdP, and the code exchange. */
async function signIn(
  user: string,
  password: string,
): Promise<{ tokens: TokenResponse; claims: Record<string, unknown> }> {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const authUrl = new URL(discovery.authorization_endpoint);
  authUrl.search = new URLSearchParams({
    response_type: 'code',
    client_id: idp.clientId,
    redirect_uri: REDIRECT,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();

  const callback = new URL(await idp.login(authUrl.href, user, password));
  expect(`${callback.origin}${callback.pathname}`).toBe(REDIRECT);
  expect(callback.searchParams.get('state')).toBe(state);
  expect(callback.searchParams.get('error')).toBeNull();
  const code = callback.searchParams.get('code');
  expect(code).toMatch(/^\S{16,}$/);

  const { status, body } = await tokenRequest({
    grant_type: 'authorization_code',
    code: code!,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
  });
  expect(status, body).toBe(200);
  const tokens = JSON.parse(body) as TokenResponse;
  expect(tokens.token_type.toLowerCase()).toBe('bearer');
  expect(tokens.id_token).toBeTypeOf('string');
  const claims = decodePayload(tokens.id_token!);
  expect(claims.iss).toBe(idp.issuer);
  expect(claims.aud).toBe(idp.clientId);
  expect(claims.nonce).toBe(nonce);
  return { tokens, claims };
}

describe('Glewlwyd test IdP', () => {
  it('publishes discovery with its issuer and PKCE S256', () => {
    expect(idp.issuer).toBe(`http://127.0.0.1:${PORT}/api/oidc`);
    expect(discovery.issuer).toBe(idp.issuer);
    expect(discovery.code_challenge_methods_supported).toContain('S256');
    expect(discovery.token_endpoint).toBe(`${idp.issuer}/token`);
  });

  it('logs alice in with code + PKCE; the ID token carries her email and groups', async () => {
    const { tokens, claims } = await signIn('alice', 'alice-password');
    expect(claims.email).toBe('alice@example.com');
    expect(claims.groups).toEqual(['developers']);
    expect(claims.name).toBe('Alice Example');
    expect(claims.sub).toBeTypeOf('string');
    expect(tokens.scope).toBe('openid email profile');
    expect(tokens.refresh_token).toBeTypeOf('string');
  });

  it('a group added at the IdP is in the next login ID token', async () => {
    await idp.setGroups('alice', ['developers', 'oncall']);
    const { claims } = await signIn('alice', 'alice-password');
    expect(claims.email).toBe('alice@example.com');
    expect(claims.groups).toEqual(['developers', 'oncall']);
  });

  it('bob is in oncall only', async () => {
    const { claims } = await signIn('bob', 'bob-password');
    expect(claims.email).toBe('bob@example.com');
    expect(claims.groups).toEqual(['oncall']);
  });

  it('a refresh returns no ID token, but userinfo shows the groups as they are now', async () => {
    await idp.setGroups('alice', ['developers']);
    const { tokens, claims } = await signIn('alice', 'alice-password');
    expect(claims.groups).toEqual(['developers']);
    await idp.setGroups('alice', ['oncall']);

    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(refreshed.status, refreshed.body).toBe(200);
    const body = JSON.parse(refreshed.body) as TokenResponse;
    expect(body.id_token).toBeUndefined();
    expect(body.refresh_token).toBeUndefined(); // not rotated: the same refresh token stays valid

    const userinfo = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toEqual({
      sub: claims.sub,
      name: 'Alice Example',
      email: 'alice@example.com',
      groups: ['oncall'],
    });
  });

  it('rejects a wrong password and a replayed code the Glewlwyd way', async () => {
    const authUrl = `${discovery.authorization_endpoint}?response_type=code&client_id=${idp.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&scope=openid&state=s1&nonce=n1`;
    await expect(idp.login(authUrl, 'alice', 'wrong')).rejects.toThrow('login as alice failed: HTTP 401');
    await expect(idp.login(authUrl.replace('client_id=baton', 'client_id=nobody'), 'alice', 'x')).rejects.toThrow(
      'authorization request rejected: HTTP 403 (empty body)',
    );
    const callback = new URL(await idp.login(authUrl, 'alice', 'alice-password'));
    const code = callback.searchParams.get('code')!;
    const first = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
    expect(first.status, first.body).toBe(200);
    // RFC 6749 says 400 invalid_grant; Glewlwyd answers 403 invalid_code
    const replay = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
    expect(replay).toEqual({ status: 403, body: '{"error":"invalid_code"}' });
  });
});
