/** Scenarios: RFC 7662 introspection and RFC 7009 revocation. */
import { assert, serviceToken, type Scenario } from '../context.ts';

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
];
