/** Scenarios: the token endpoint: RFC 9068 tokens, RFC 8707 targets, refresh rotation, client authentication. */
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { assert, clientCredentials, userTokens, type Scenario } from '../context.ts';

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
      const res = await clientCredentials(ctx, { resource: 'https://unknown-resource.invalid' });
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
      const res = await clientCredentials(ctx, {}, { secret: 'wrong-secret' });
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
      const res = await clientCredentials(ctx);
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
      const res = await clientCredentials(ctx);
      assert(
        res.status === 200 && res.headers.get('cache-control') === 'no-store',
        `Cache-Control: ${String(res.headers.get('cache-control'))}`,
      );
    },
  },

  {
    id: 'token.unsupported-grant',
    clause: 'RFC 6749 §5.2 (unsupported_grant_type, a JSON error body)',
    level: 'MUST',
    title: 'an unknown grant type is 400 unsupported_grant_type, as application/json',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'urn:example:no-such-grant' },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(
        res.status === 400 && res.body.error === 'unsupported_grant_type',
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
      assert(/^application\/json/.test(res.headers.get('content-type') ?? ''), 'the error is not JSON');
    },
  },
  {
    id: 'token.no-password-grant',
    clause: 'RFC 9700 §2.4 (the resource owner password credentials grant MUST NOT be used); OAuth 2.1 §10.4',
    level: 'MUST',
    title: 'grant_type=password is refused',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'password', username: ctx.fixture.user.username, password: ctx.fixture.user.password },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(
        res.status === 400 && res.body.error === 'unsupported_grant_type' && res.body.access_token === undefined,
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'token.resource-syntax',
    clause: 'RFC 8707 §2 (resource: an absolute URI without a fragment; invalid_target)',
    level: 'MUST',
    title: 'a token request whose resource has a fragment, or is not absolute, is invalid_target',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      for (const resource of [`${c.resource}#fragment`, 'not-a-uri']) {
        const res = await clientCredentials(ctx, { resource });
        assert(
          res.status === 400 && res.body.error === 'invalid_target',
          `${resource}: HTTP ${res.status} ${String(res.body.error)}`,
        );
      }
    },
  },
  {
    id: 'token.scope-not-granted',
    clause: 'RFC 6749 §5.2 (invalid_scope), §3.3',
    level: 'MUST',
    title: 'client credentials asking only for scopes the client may not have is invalid_scope',
    async run(ctx) {
      const res = await clientCredentials(ctx, { scope: 'conformance.never-granted' });
      assert(res.status === 400 && res.body.error === 'invalid_scope', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'refresh.resource-bound',
    clause:
      'RFC 8707 §2.2 (a refresh may only ask for resources of the grant); MCP authorization §Token Audience Binding',
    level: 'MUST',
    title: 'refreshing a token for a resource outside the grant is invalid_target, and nothing is issued',
    async run(ctx) {
      const tokens = await userTokens(ctx);
      assert(tokens.refresh_token, 'no refresh token issued');
      const res = await ctx.form('token', {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token!,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.confidentialClient.resource,
      });
      assert(
        res.status === 400 && res.body.error === 'invalid_target' && res.body.access_token === undefined,
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'client.auth-methods',
    clause: 'RFC 6749 §2.3.1 (client_secret_basic MUST be supported); RFC 8414 §2',
    level: 'MUST',
    title: 'token_endpoint_auth_methods_supported lists client_secret_basic',
    async run(ctx) {
      const methods = ctx.metadata.token_endpoint_auth_methods_supported as string[] | undefined;
      assert(Array.isArray(methods) && methods.includes('client_secret_basic'), `methods: ${JSON.stringify(methods)}`);
    },
  },
];
