/**
 * Proves the upstream-authorization-server harness of issue #20 (per-user credential brokering) with real parts:
 * Glewlwyd 2.7 as a SaaS MCP server's own authorization server (upstream-as.ts), openid-client as the relying
 * party (what baton will use), a token-checking front (token-front.ts) before @modelcontextprotocol/server-everything,
 * and the MCP SDK client calling `echo` through it as alice and as bob. It also pins Glewlwyd's exact behaviour:
 * RFC 8707 resource -> `aud`, refresh token rotation and replay, RFC 7009 revocation, the AS being down.
 */
import type { ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEverything } from '../everything.ts';
import { freePort } from '../helpers.ts';
import { fingerprint, startTokenFront, type TokenFront } from './token-front.ts';
import { startUpstreamAs, type UpstreamAs } from './upstream-as.ts';

const REDIRECT = 'http://127.0.0.1:4558/cb';
// short enough to see expiry, long enough for a sign-in and a call on a busy machine
const ACCESS_TOKEN_SECONDS = 3;
const PASSWORDS: Record<string, string> = { alice: 'alice-password', bob: 'bob-password' };

let everything: ChildProcess;
let as: UpstreamAs;
let front: TokenFront;
let config: client.Configuration;

/**
 * The relying party's configuration. Client authentication by client_secret_post: openid-client's
 * ClientSecretBasic form-urlencodes the id and secret first (RFC 6749 §2.3.1, `-` becomes `%2D`), and Glewlwyd
 * compares them without decoding (see the ClientSecretBasic test below).
 */
const rpConfig = (u: UpstreamAs, auth = client.ClientSecretPost(u.clientSecret)): Promise<client.Configuration> =>
  client.discovery(new URL(u.issuer), u.clientId, { redirect_uris: [REDIRECT] }, auth, {
    execute: [client.allowInsecureRequests],
  });

/** Authorization code + PKCE (RFC 7636 S256) + RFC 8707 resource, with the user logging in at Glewlwyd. */
/** An authorization request for the MCP scope (code + PKCE S256, the resource when given). */
async function authorizationRequest(c: client.Configuration, u: UpstreamAs, resource: string | undefined) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(c, {
    redirect_uri: REDIRECT,
    scope: u.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(resource ? { resource } : {}),
  });
  return { url, verifier, state };
}

async function signIn(
  c: client.Configuration,
  u: UpstreamAs,
  user: string,
  resource = u.resource,
): Promise<client.TokenEndpointResponse> {
  const { url, verifier, state } = await authorizationRequest(c, u, resource);
  const back = await u.login(url.href, user, PASSWORDS[user] ?? '');
  return client.authorizationCodeGrant(
    c,
    new URL(back),
    { pkceCodeVerifier: verifier, expectedState: state },
    resource ? { resource } : undefined,
  );
}

/** An MCP SDK client through the front with `token`; closes it after the call. */
async function echo(token: string, message: string): Promise<unknown> {
  const transport = new StreamableHTTPClientTransport(new URL(front.url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const mcp = new Client({ name: 'upstream-as-test', version: '1.0.0' });
  await mcp.connect(transport);
  try {
    const result = await mcp.callTool({ name: 'echo', arguments: { message } });
    return result.content;
  } finally {
    await mcp.close();
  }
}

/** An MCP initialize request straight to the front (to see its refusal). */
const initialize = (token: string): Promise<Response> =>
  fetch(front.url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    }),
  });

/** What openid-client throws, as plain data to assert on. */
async function failure(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { code?: string; error?: string; status?: number; cause?: unknown };
    const cause = e.cause as { status?: number; code?: string } | undefined;
    return {
      name: e.name,
      code: e.code,
      error: e.error,
      status: e.status,
      ...(cause instanceof Response ? { responseStatus: cause.status } : { causeCode: cause?.code }),
    };
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  const [everythingPort, frontPort] = [await freePort(), await freePort()];
  everything = await startEverything(everythingPort);
  const resource = `http://127.0.0.1:${frontPort}/mcp`;
  as = await startUpstreamAs({
    redirectUri: REDIRECT,
    resource,
    accessTokenSeconds: ACCESS_TOKEN_SECONDS,
    refreshTokenOneUse: 'always',
  });
  front = await startTokenFront({
    issuer: as.issuer,
    jwksUri: as.jwksUri,
    scope: as.scope,
    audience: resource,
    upstream: `http://127.0.0.1:${everythingPort}/mcp`,
    port: frontPort,
  });
  config = await rpConfig(as);
}, 120_000);

afterAll(async () => {
  await front?.close();
  await as?.stop();
  everything?.kill();
});

describe('Glewlwyd as the upstream authorization server of an MCP server', () => {
  it('discovery lists RFC 7009 revocation and RFC 7662 introspection with client_secret_basic, and mcp.search', () => {
    const m = config.serverMetadata();
    expect(m.revocation_endpoint).toBe(`${as.issuer}/revoke`);
    expect(m.introspection_endpoint).toBe(`${as.issuer}/introspect`);
    expect(m.revocation_endpoint_auth_methods_supported).toEqual(['client_secret_basic']);
    expect(m.scopes_supported).toEqual(['openid', 'email', 'profile', 'mcp.search']);
    expect(m.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('alice and bob each get their own token (code + PKCE + resource) and call echo through the front', async () => {
    const before = front.records.length;
    // each user calls right after signing in (the access tokens are short)
    const alice = await signIn(config, as, 'alice');
    expect(await echo(alice.access_token, 'from alice')).toEqual([{ type: 'text', text: 'Echo: from alice' }]);
    const bob = await signIn(config, as, 'bob');
    expect(await echo(bob.access_token, 'from bob')).toEqual([{ type: 'text', text: 'Echo: from bob' }]);

    // the token response: no id_token (no openid scope), the resource as `aud`
    expect(Object.keys(alice).sort()).toEqual([
      'access_token',
      'expires_in',
      'iat',
      'refresh_token',
      'scope',
      'token_type',
    ]);
    expect(alice).toMatchObject({ token_type: 'bearer', expires_in: ACCESS_TOKEN_SECONDS, scope: 'mcp.search' });
    expect(decodeProtectedHeader(alice.access_token)).toEqual({
      typ: 'at+jwt',
      alg: 'RS256',
      kid: expect.any(String) as string,
    });
    const claims = decodeJwt(alice.access_token);
    expect(Object.keys(claims).sort()).toEqual(
      ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'nbf', 'scope', 'sub', 'type'].sort(),
    );
    expect(claims).toMatchObject({
      iss: as.issuer,
      aud: as.resource, // RFC 8707 §2: the resource, a single string
      client_id: as.clientId,
      scope: 'mcp.search',
      type: 'access_token',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(ACCESS_TOKEN_SECONDS);

    const seen = front.records.slice(before);
    const subs = [...new Set(seen.map((r) => r.sub))];
    expect(subs).toEqual([decodeJwt(alice.access_token).sub, decodeJwt(bob.access_token).sub]);
    expect(subs[0]).not.toBe(subs[1]);
    expect(seen.every((r) => r.status < 300 && r.status >= 200)).toBe(true);
    // fingerprints, never the tokens
    expect([...new Set(seen.map((r) => r.fingerprint))]).toEqual([
      fingerprint(alice.access_token),
      fingerprint(bob.access_token),
    ]);
    expect(JSON.stringify(front.records)).not.toContain(alice.access_token);
  });

  it('an expired access token is refused with invalid_token; a refresh gives a new one (and a new refresh token)', async () => {
    const first = await signIn(config, as, 'alice');
    expect(await echo(first.access_token, 'fresh')).toEqual([{ type: 'text', text: 'Echo: fresh' }]);

    // RFC 6750 §3.1: the front refuses the token once `exp` has passed
    await vi.waitFor(
      async () => {
        const res = await initialize(first.access_token);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      },
      { timeout: (ACCESS_TOKEN_SECONDS + 3) * 1000, interval: 200 },
    );
    expect(front.records.at(-1)).toMatchObject({ status: 401, refused: 'ERR_JWT_EXPIRED', sub: undefined });

    // refresh-token-one-use "always": the answer carries a new refresh token (RFC 6749 §6), no id_token
    const refreshed = await client.refreshTokenGrant(config, first.refresh_token ?? '');
    expect(Object.keys(refreshed).sort()).toEqual([
      'access_token',
      'expires_in',
      'iat',
      'refresh_token',
      'scope',
      'token_type',
    ]);
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);
    // the resource of the grant is kept: no `resource` sent at refresh, `aud` is still the resource
    expect(decodeJwt(refreshed.access_token)).toMatchObject({
      aud: as.resource,
      sub: decodeJwt(first.access_token).sub,
    });
    expect(await echo(refreshed.access_token, 'refreshed')).toEqual([{ type: 'text', text: 'Echo: refreshed' }]);

    // and the next refresh with the new refresh token works too
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token ?? '');
    expect(again.refresh_token).not.toBe(refreshed.refresh_token);
  });

  it('reusing a rotated refresh token fails (400, empty body) and disables the whole family', async () => {
    const first = await signIn(config, as, 'bob');
    const second = await client.refreshTokenGrant(config, first.refresh_token ?? '');
    // replay of the used one: Glewlwyd answers 400 with an empty body, not RFC 6749 §5.2 invalid_grant JSON
    expect(await failure(client.refreshTokenGrant(config, first.refresh_token ?? ''))).toEqual({
      name: 'ClientError',
      code: 'OAUTH_RESPONSE_IS_NOT_JSON',
      error: undefined,
      status: undefined,
      responseStatus: 400,
    });
    // the replay disabled the refresh token issued from it (same jti): the legitimate holder is out too
    expect(await failure(client.refreshTokenGrant(config, second.refresh_token ?? ''))).toMatchObject({
      code: 'OAUTH_RESPONSE_IS_NOT_JSON',
      responseStatus: 400,
    });
    expect(await as.introspect(second.refresh_token ?? '')).toEqual({ active: false });
  });

  it('a refresh token revoked at the upstream (RFC 7009) can no longer be used', async () => {
    const tokens = await signIn(config, as, 'alice');
    const rt = tokens.refresh_token ?? '';
    expect(await as.introspect(rt)).toMatchObject({
      active: true,
      token_type: 'refresh_token',
      username: 'alice',
      client_id: as.clientId,
      aud: as.clientId,
      scope: 'mcp.search',
    });
    // RFC 7009 §2.2: 200 (Glewlwyd: with an empty body), also for a token it does not know
    expect(await as.revoke(rt, 'refresh_token')).toEqual({ status: 200, body: '' });
    expect(await as.revoke('not-a-token', 'refresh_token')).toEqual({ status: 200, body: '' });
    expect(await as.introspect(rt)).toEqual({ active: false });
    expect(await failure(client.refreshTokenGrant(config, rt))).toEqual({
      name: 'ClientError',
      code: 'OAUTH_RESPONSE_IS_NOT_JSON',
      error: undefined,
      status: undefined,
      responseStatus: 400,
    });
    // (revoking the refresh token disables only that row: access tokens issued from it stay valid until exp,
    // protocol_oidc.c revoke_refresh_token; the front checks them offline anyway)
  });

  it('a resource the scope is not allowed is refused with invalid_target, at /auth and at /token', async () => {
    const other = 'http://127.0.0.1:1/elsewhere';
    expect(await failure(signIn(config, as, 'alice', other))).toEqual({
      name: 'AuthorizationResponseError',
      code: 'OAUTH_AUTHORIZATION_RESPONSE_ERROR',
      error: 'invalid_target',
      status: undefined,
      causeCode: undefined,
    });
    // the code was issued for the front's resource; asking for another one at the token endpoint
    const { url, verifier, state } = await authorizationRequest(config, as, as.resource ?? '');
    const back = await as.login(url.href, 'alice', 'alice-password');
    expect(
      await failure(
        client.authorizationCodeGrant(
          config,
          new URL(back),
          { pkceCodeVerifier: verifier, expectedState: state },
          { resource: other },
        ),
      ),
    ).toEqual({
      name: 'ResponseBodyError',
      code: 'OAUTH_RESPONSE_BODY_ERROR',
      error: 'invalid_target',
      status: 403,
      causeCode: undefined,
    });
  });

  it('a token of another audience or without a token is refused by the front', async () => {
    const res = await fetch(front.url, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await initialize('not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('openid-client ClientSecretBasic is refused: Glewlwyd does not form-urldecode the Basic credentials', async () => {
    const basic = await rpConfig(as, client.ClientSecretBasic(as.clientSecret));
    expect(await failure(signIn(basic, as, 'alice'))).toEqual({
      name: 'ResponseBodyError',
      code: 'OAUTH_RESPONSE_BODY_ERROR',
      error: 'unauthorized_client',
      status: 403,
      causeCode: undefined,
    });
  });
});

describe('with the default refresh-token-one-use "never"', () => {
  let never: UpstreamAs;
  let c: client.Configuration;
  beforeAll(async () => {
    never = await startUpstreamAs({ redirectUri: REDIRECT });
    c = await rpConfig(never);
  }, 120_000);
  afterAll(async () => {
    await never?.stop();
  });

  it('without a resource, aud is the scope list; a refresh returns no new refresh token and the old one stays valid', async () => {
    const tokens = await signIn(c, never, 'bob');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: 'mcp.search', scope: 'mcp.search' });
    expect(tokens.expires_in).toBe(3600);
    const r1 = await client.refreshTokenGrant(c, tokens.refresh_token ?? '');
    expect(Object.keys(r1).sort()).toEqual(['access_token', 'expires_in', 'iat', 'scope', 'token_type']);
    const r2 = await client.refreshTokenGrant(c, tokens.refresh_token ?? '');
    expect(r2.access_token).not.toBe(r1.access_token);
  });

  it('when the authorization server is down, openid-client throws TypeError "fetch failed" (ECONNREFUSED)', async () => {
    const tokens = await signIn(c, never, 'alice');
    await never.stop();
    expect(await failure(client.refreshTokenGrant(c, tokens.refresh_token ?? ''))).toEqual({
      name: 'TypeError',
      code: undefined,
      error: undefined,
      status: undefined,
      causeCode: 'ECONNREFUSED',
    });
  });
});
