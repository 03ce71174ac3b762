/** Scenarios: RFC 7662 introspection and RFC 7009 revocation. */
import { assert, serviceToken, userTokens, type Scenario } from '../context.ts';

export const introspection: Scenario[] = [
  {
    id: 'introspection',
    clause: 'RFC 7662 §2.2',
    level: 'MUST',
    title: 'introspection answers active for a valid token (to its client) and active:false for garbage',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const auth = { id: c.client_id, secret: c.client_secret };
      const token = await serviceToken(ctx);
      const on = await ctx.form('/token/introspection', { token }, auth);
      assert(
        on.status === 200 && on.body.active === true && on.body.client_id === c.client_id,
        `valid token: ${JSON.stringify(on.body)}`,
      );
      const off = await ctx.form('/token/introspection', { token: 'garbage' }, auth);
      assert(off.status === 200 && off.body.active === false, 'garbage is not active:false');
    },
  },

  {
    id: 'revocation',
    clause: 'RFC 7009 §2.1, §2.2',
    level: 'MUST',
    title: 'a revoked token is inactive; revoking garbage is 200',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const auth = { id: c.client_id, secret: c.client_secret };
      const token = await serviceToken(ctx);
      assert((await ctx.form('/token/revocation', { token }, auth)).status === 200, 'revocation failed');
      assert(
        (await ctx.form('/token/introspection', { token }, auth)).body.active === false,
        'still active after revocation',
      );
      assert(
        (await ctx.form('/token/revocation', { token: 'garbage' }, auth)).status === 200,
        'garbage revocation is not 200',
      );
    },
  },

  {
    id: 'introspection.client-auth',
    clause: 'RFC 7662 §2.1 (the endpoint MUST require authorization), §2.3 (401)',
    level: 'MUST',
    title: 'introspection without client authentication, or with a wrong secret, is 401 and reveals nothing',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const token = await serviceToken(ctx);
      for (const auth of [undefined, { id: c.client_id, secret: 'wrong-secret' }]) {
        const res = await ctx.form('/token/introspection', { token }, auth);
        assert(
          res.status === 401 && res.body.active === undefined,
          `${auth ? 'wrong secret' : 'no authentication'}: HTTP ${res.status} ${JSON.stringify(res.body)}`,
        );
      }
    },
  },
  {
    id: 'introspection.other-client',
    clause:
      'RFC 7662 §2.2, §4 (the AS decides what a caller may learn: a token is described only to its client or audience)',
    level: 'SHOULD',
    title: "a client that is neither the token's client nor its audience learns active:false",
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const token = await serviceToken(ctx);
      const res = await ctx.form('/token/introspection', { token }, { id: x.client_id, secret: x.client_secret });
      assert(res.status === 200 && res.body.active === false, `HTTP ${res.status} ${JSON.stringify(res.body)}`);
    },
  },
  {
    id: 'revocation.other-client',
    clause: 'RFC 7009 §2.1 (the AS verifies the token was issued to the revoking client)',
    level: 'MUST',
    title: 'another client cannot revoke a token: it stays active',
    needs: ['exchange'],
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const x = ctx.fixture.exchange!;
      const token = await serviceToken(ctx);
      await ctx.form('/token/revocation', { token }, { id: x.client_id, secret: x.client_secret });
      await new Promise((ok) => setTimeout(ok, 1200));
      const res = await ctx.form('/token/introspection', { token }, { id: c.client_id, secret: c.client_secret });
      assert(res.body.active === true, 'the token was revoked by another client');
    },
  },
  {
    id: 'revocation.refresh-token',
    clause:
      "RFC 7009 §2 (refresh tokens MUST be revocable), §2.1 (SHOULD revoke the grant's access tokens); OAuth 2.1 §4.3.1",
    level: 'MUST',
    title: 'a revoked refresh token no longer refreshes, and the access tokens of its grant become inactive',
    async run(ctx) {
      const tokens = await userTokens(ctx);
      assert(tokens.refresh_token, 'no refresh token issued');
      const client = ctx.fixture.publicClient.client_id;
      const revoked = await ctx.form('/token/revocation', {
        token: tokens.refresh_token!,
        token_type_hint: 'refresh_token',
        client_id: client,
      });
      assert(revoked.status === 200, `revocation: HTTP ${revoked.status}`);
      const refresh = await ctx.form('token', {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token!,
        client_id: client,
        resource: ctx.fixture.resource,
      });
      assert(refresh.status === 400 && refresh.body.error === 'invalid_grant', `refresh: HTTP ${refresh.status}`);
      if (ctx.fixture.exchange) {
        // the resource server (the exchange actor serves the fixture's resource) sees the access token inactive
        await new Promise((ok) => setTimeout(ok, 1200));
        const x = ctx.fixture.exchange;
        const seen = await ctx.form(
          '/token/introspection',
          { token: tokens.access_token },
          { id: x.client_id, secret: x.client_secret },
        );
        assert(seen.body.active === false, 'the access token of the revoked grant is still active');
      }
    },
  },
];
