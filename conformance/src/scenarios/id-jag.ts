/** Scenarios: ID-JAG redemption (RFC 7523 jwt-bearer under the identity assertion authorization grant and the MCP Enterprise-Managed Authorization profile). */
import { assert, signIdJag, JWT_BEARER, type Scenario } from '../context.ts';

export const idJag: Scenario[] = [
  {
    id: 'id-jag.metadata',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §7.2; MCP Enterprise-Managed Authorization §6',
    level: 'MUST',
    title: 'the id-jag grant profile is advertised with jwt-bearer in grant_types_supported',
    async run(ctx) {
      assert(
        (ctx.metadata.authorization_grant_profiles_supported as string[] | undefined)?.includes(
          'urn:ietf:params:oauth:grant-profile:id-jag',
        ),
        'profile not advertised',
      );
      assert(
        (ctx.metadata.grant_types_supported as string[] | undefined)?.includes(JWT_BEARER),
        'jwt-bearer not in grant_types_supported',
      );
    },
  },

  {
    id: 'id-jag.replay',
    clause: 'MCP Enterprise-Managed Authorization §7.4.2; RFC 7523 §3 (jti)',
    level: 'MUST',
    title: 'an ID-JAG is redeemable once',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const assertion = await signIdJag(ctx, ctx.issuer, { scope: ctx.fixture.scope });
      const auth = { id: j.client_id, secret: j.client_secret };
      const first = await ctx.form('token', { grant_type: JWT_BEARER, assertion }, auth);
      assert(first.status === 200, `first redemption: HTTP ${first.status} ${String(first.body.error)}`);
      assert(first.body.refresh_token === undefined, 'a refresh token was issued (ID-JAG §4.4.3)');
      const replay = await ctx.form('token', { grant_type: JWT_BEARER, assertion }, auth);
      assert(
        replay.status === 400 && replay.body.error === 'invalid_grant',
        `replay: HTTP ${replay.status} ${String(replay.body.error)}`,
      );
    },
  },

  {
    id: 'id-jag.audience',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4.1 (aud exactly the AS)',
    level: 'MUST',
    title: 'an ID-JAG for another audience is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const assertion = await signIdJag(ctx, [ctx.issuer, 'https://other-as.invalid']);
      const res = await ctx.form(
        'token',
        { grant_type: JWT_BEARER, assertion },
        { id: j.client_id, secret: j.client_secret },
      );
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
];
