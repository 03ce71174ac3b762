/** Scenarios: RFC 8693 token exchange. */
import { decodeJwt } from 'jose';
import { assert, userTokens, TE, AT_TYPE, type Scenario } from '../context.ts';

export const exchange: Scenario[] = [
  {
    id: 'token-exchange.act',
    clause: 'RFC 8693 §2.1, §2.2.1, §4.1',
    level: 'MUST',
    title: 'an exchange answers issued_token_type and a token whose act names the actor, then the prior actor',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { access_token } = await userTokens(ctx);
      const res = await ctx.form(
        'token',
        { grant_type: TE, subject_token: access_token, subject_token_type: AT_TYPE, resource: x.target },
        { id: x.client_id, secret: x.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(res.body.issued_token_type === AT_TYPE && res.body.token_type, 'issued_token_type/token_type missing');
      const claims = decodeJwt(String(res.body.access_token));
      const act = claims.act as { sub?: string; act?: { sub?: string } } | undefined;
      assert(
        act?.sub === x.client_id && act.act?.sub === ctx.fixture.publicClient.client_id,
        `act is ${JSON.stringify(claims.act)}`,
      );
      assert(claims.aud === x.target && claims.exp! <= decodeJwt(access_token).exp!, 'audience or expiry wrong');
    },
  },

  {
    id: 'token-exchange.errors',
    clause: 'RFC 8693 §2.2.2',
    level: 'MUST',
    title: 'an unacceptable subject token is invalid_request; an unknown target is invalid_target',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const auth = { id: x.client_id, secret: x.client_secret };
      const bad = await ctx.form(
        'token',
        { grant_type: TE, subject_token: 'not-a-token', subject_token_type: AT_TYPE, resource: x.target },
        auth,
      );
      assert(bad.status === 400 && bad.body.error === 'invalid_request', `bad subject: ${String(bad.body.error)}`);
      const { access_token } = await userTokens(ctx);
      const target = await ctx.form(
        'token',
        {
          grant_type: TE,
          subject_token: access_token,
          subject_token_type: AT_TYPE,
          resource: 'https://unknown-resource.invalid',
        },
        auth,
      );
      assert(
        target.status === 400 && target.body.error === 'invalid_target',
        `unknown target: ${String(target.body.error)}`,
      );
    },
  },

  {
    id: 'token-exchange.act-not-copied',
    clause: 'RFC 8693 §4.1 (act built by the AS from validated inputs)',
    level: 'MUST',
    title: 'an act sent by the client is never copied into the issued token',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { access_token } = await userTokens(ctx);
      const res = await ctx.form(
        'token',
        {
          grant_type: TE,
          subject_token: access_token,
          subject_token_type: AT_TYPE,
          resource: x.target,
          act: JSON.stringify({ sub: 'admin' }),
        },
        { id: x.client_id, secret: x.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status}`);
      assert(
        !JSON.stringify(decodeJwt(String(res.body.access_token)).act).includes('admin'),
        'the client-supplied act was copied',
      );
    },
  },
];
