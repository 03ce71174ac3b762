/** Scenarios: the token endpoint: RFC 9068 tokens, RFC 8707 targets, refresh rotation, client authentication. */
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { assert, userTokens, type Scenario } from '../context.ts';

export const tokens: Scenario[] = [
  {
    id: 'token.jwt-profile',
    clause: 'RFC 9068 §2.1, §2.2; RFC 8707 §2.2; MCP authorization §Token Audience Binding',
    level: 'MUST',
    title: 'the access token is an at+jwt for exactly the requested resource, signed by a JWKS key',
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      assert(decodeProtectedHeader(access_token).typ === 'at+jwt', 'typ is not at+jwt');
      const { payload } = await jwtVerify(access_token, await ctx.jwks(), {
        issuer: ctx.issuer,
        audience: ctx.fixture.resource,
        typ: 'at+jwt',
      });
      for (const c of ['sub', 'client_id', 'iat', 'exp', 'jti']) assert(payload[c] !== undefined, `${c} missing`);
      assert(payload.aud === ctx.fixture.resource, 'aud is not exactly the resource');
    },
  },

  {
    id: 'token.invalid-target',
    clause: 'RFC 8707 §2 (invalid_target); MCP authorization §Resource Parameter Implementation',
    level: 'MUST',
    title: 'a token request for an unknown resource is invalid_target',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: 'https://unknown-resource.invalid' },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(res.status === 400 && res.body.error === 'invalid_target', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },

  {
    id: 'refresh.rotation',
    clause: 'OAuth 2.1 §4.3.1; RFC 9700 §4.14.2; MCP authorization §Token Theft (rotate for public clients)',
    level: 'MUST',
    title: 'a public client refresh token rotates, and the old one is refused',
    async run(ctx) {
      const tokens = await userTokens(ctx);
      assert(tokens.refresh_token, 'no refresh token issued');
      const form = {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token!,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      };
      const first = await ctx.form('token', form);
      assert(
        first.status === 200 && first.body.refresh_token && first.body.refresh_token !== tokens.refresh_token,
        'not rotated',
      );
      const reuse = await ctx.form('token', form);
      assert(reuse.status === 400 && reuse.body.error === 'invalid_grant', 'the rotated-out refresh token still works');
    },
  },

  {
    id: 'client.auth-failure',
    clause: 'RFC 6749 §5.2 (invalid_client, 401 with WWW-Authenticate)',
    level: 'MUST',
    title: 'a wrong client secret is 401 invalid_client with WWW-Authenticate',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: 'wrong-secret' },
      );
      assert(
        res.status === 401 && res.body.error === 'invalid_client' && res.headers.get('www-authenticate'),
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },

  {
    id: 'client-credentials',
    clause: 'RFC 6749 §4.4; RFC 9068',
    level: 'MUST',
    title: 'client credentials for a resource gives an at+jwt for it',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      await jwtVerify(String(res.body.access_token), await ctx.jwks(), { audience: c.resource, typ: 'at+jwt' });
    },
  },

  {
    id: 'token.no-store',
    clause: 'RFC 6749 §5.1 (Cache-Control: no-store); OAuth 2.1 §3.2.3',
    level: 'MUST',
    title: 'token responses are not cached',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(
        res.status === 200 && res.headers.get('cache-control') === 'no-store',
        `Cache-Control: ${String(res.headers.get('cache-control'))}`,
      );
    },
  },
];
