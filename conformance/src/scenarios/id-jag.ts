/** Scenarios: ID-JAG redemption (RFC 7523 jwt-bearer under the identity assertion authorization grant and the MCP Enterprise-Managed Authorization profile). */
import { randomUUID } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { assert, exchangeToken, signIdJag, userTokens, JWT_BEARER, type Context, type Scenario } from '../context.ts';

const ID_JAG_TYPE = 'urn:ietf:params:oauth:token-type:id-jag';

/** Redeems the assertion as the fixture's ID-JAG client and expects invalid_grant with nothing issued. */
async function refused(ctx: Context, assertion: string): Promise<void> {
  const j = ctx.fixture.idJag!;
  const res = await ctx.form(
    'token',
    { grant_type: JWT_BEARER, assertion },
    { id: j.client_id, secret: j.client_secret },
  );
  assert(
    res.status === 400 && res.body.error === 'invalid_grant' && res.body.access_token === undefined,
    `HTTP ${res.status} ${String(res.body.error)}`,
  );
}

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

  {
    id: 'id-jag.signature',
    clause: 'RFC 7523 §3 (item 9: the signature MUST verify); RFC 7521 §5.2 (invalid_grant)',
    level: 'MUST',
    title: 'an ID-JAG signed with a key the IdP does not publish is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const { privateKey } = await generateKeyPair(j.alg, { extractable: true });
      const jwk = { ...(await exportJWK(privateKey)), ...(j.private_jwk.kid ? { kid: j.private_jwk.kid } : {}) };
      await refused(ctx, await signIdJag(ctx, ctx.issuer, {}, { key: { jwk, alg: j.alg } }));
    },
  },
  {
    id: 'id-jag.alg-none',
    clause: 'RFC 7523 §3 (item 9); RFC 8725 §3.1, §3.2 (no alg none)',
    level: 'MUST',
    title: 'an unsigned ID-JAG (alg none) is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const signed = await signIdJag(ctx, ctx.issuer);
      const [, payload] = signed.split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'oauth-id-jag+jwt' })).toString('base64url');
      await refused(ctx, `${header}.${payload}.`);
    },
  },
  {
    id: 'id-jag.typ',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §3 (typ oauth-id-jag+jwt), §4.4.1',
    level: 'MUST',
    title: 'a JWT of another type (typ JWT), otherwise valid, is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      await refused(ctx, await signIdJag(ctx, ctx.issuer, {}, { typ: 'JWT' }));
    },
  },
  {
    id: 'id-jag.expired',
    clause: 'RFC 7523 §3 (item 4: exp); RFC 7521 §5.2',
    level: 'MUST',
    title: 'an expired ID-JAG is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const now = Math.floor(Date.now() / 1000);
      await refused(ctx, await signIdJag(ctx, ctx.issuer, { iat: now - 600, exp: now - 300 }));
    },
  },
  {
    id: 'id-jag.client-binding',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4.1 (client_id = the authenticated client)',
    level: 'MUST',
    title: 'an ID-JAG issued to another client is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      await refused(ctx, await signIdJag(ctx, ctx.issuer, { client_id: 'another-client' }));
    },
  },
  {
    id: 'id-jag.untrusted-issuer',
    clause: 'MCP Enterprise-Managed Authorization §7.4 (a trusted IdP); RFC 7523 §3 (item 1: iss)',
    level: 'MUST',
    title: 'an ID-JAG from an issuer the server does not trust is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      await refused(ctx, await signIdJag(ctx, ctx.issuer, { iss: 'https://untrusted-idp.invalid' }));
    },
  },
  {
    id: 'id-jag.client-auth',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §4.3 (client authentication); RFC 6749 §5.2',
    level: 'MUST',
    title: 'a redemption with a wrong client secret is 401 invalid_client',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const res = await ctx.form(
        'token',
        { grant_type: JWT_BEARER, assertion: await signIdJag(ctx, ctx.issuer) },
        { id: j.client_id, secret: 'wrong-secret' },
      );
      assert(res.status === 401 && res.body.error === 'invalid_client', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },

  {
    id: 'id-jag.token',
    clause:
      'MCP Enterprise-Managed Authorization §5.1, §7.2.1 (audience-restricted; scope = requested ∩ ID-JAG); ID-JAG §4.4.1 (5), §4.4.3',
    level: 'MUST',
    title: 'the token is for the ID-JAG resource only, its scope within the ID-JAG, both returned; no refresh token',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const assertion = await signIdJag(ctx, ctx.issuer, { scope: ctx.fixture.scope });
      const res = await ctx.form(
        'token',
        { grant_type: JWT_BEARER, assertion, scope: `${ctx.fixture.scope} conformance.never-granted` },
        { id: j.client_id, secret: j.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(res.body.scope === ctx.fixture.scope, `scope is ${String(res.body.scope)}`);
      assert(res.body.resource === ctx.fixture.resource, `resource is ${String(res.body.resource)}`);
      assert(res.body.refresh_token === undefined, 'a refresh token was issued');
      const { payload } = await jwtVerify(String(res.body.access_token), await ctx.jwks(), {
        issuer: ctx.issuer,
        audience: ctx.fixture.resource,
        typ: 'at+jwt',
      });
      assert(payload.aud === ctx.fixture.resource && payload.scope === ctx.fixture.scope, 'aud or scope wrong');
    },
  },
  {
    id: 'id-jag.unknown-resource',
    clause: 'MCP Enterprise-Managed Authorization §7.6.2 (resource: a registered MCP server, else invalid_grant)',
    level: 'MUST',
    title: 'an ID-JAG for a resource this server does not serve is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      await refused(ctx, await signIdJag(ctx, ctx.issuer, { resource: 'https://unknown-mcp.invalid/mcp' }));
    },
  },
  {
    id: 'id-jag.issue',
    clause:
      'draft-ietf-oauth-identity-assertion-authz-grant-04 §4.3.4, §3; MCP Enterprise-Managed Authorization §7.7; RFC 8693 §2.2.1',
    level: 'MUST',
    title:
      'identity chaining: an exchange for requested_token_type id-jag returns a signed ID-JAG for the audience (token_type N_A)',
    needs: ['exchange', 'identityChaining'],
    async run(ctx) {
      const audience = ctx.fixture.identityChaining!.audience;
      assert(
        (ctx.metadata.identity_chaining_requested_token_types_supported as string[] | undefined)?.includes(ID_JAG_TYPE),
        'identity_chaining_requested_token_types_supported does not list id-jag',
      );
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, {
        requested_token_type: ID_JAG_TYPE,
        audience,
        resource: undefined,
      });
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(
        res.body.issued_token_type === ID_JAG_TYPE &&
          res.body.token_type === 'N_A' &&
          res.body.refresh_token === undefined,
        `issued_token_type ${String(res.body.issued_token_type)}, token_type ${String(res.body.token_type)}`,
      );
      const { payload } = await jwtVerify(String(res.body.access_token), await ctx.jwks(), {
        issuer: ctx.issuer,
        audience,
        typ: 'oauth-id-jag+jwt',
        requiredClaims: ['sub', 'jti', 'exp', 'iat', 'client_id'],
      });
      assert(payload.exp! <= decodeJwt(access_token).exp!, 'the ID-JAG outlives the subject token');
    },
  },
  {
    id: 'id-jag.issue-audience',
    clause:
      'MCP Enterprise-Managed Authorization §7.6.1 (an allow-list of audiences, MUST); RFC 8693 §2.2.2 (invalid_target)',
    level: 'MUST',
    title: 'identity chaining to an audience that is not configured is invalid_target',
    needs: ['exchange', 'identityChaining'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, {
        requested_token_type: ID_JAG_TYPE,
        audience: 'https://unknown-as.invalid',
        resource: undefined,
      });
      assert(res.status === 400 && res.body.error === 'invalid_target', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },

  {
    id: 'id-jag.alg-confusion',
    clause: 'RFC 7523 §3 (item 9); RFC 8725 §2.1, §3.1 (an HMAC keyed by the IdP public key is not a signature)',
    level: 'MUST',
    title: 'an ID-JAG signed with HS256 keyed by the IdP public key is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = j.private_jwk;
      const assertion = await new SignJWT({
        client_id: j.client_id,
        resource: ctx.fixture.resource,
        jti: randomUUID(),
      })
        .setProtectedHeader({
          alg: 'HS256',
          typ: 'oauth-id-jag+jwt',
          ...(j.private_jwk.kid ? { kid: j.private_jwk.kid } : {}),
        })
        .setIssuer(j.issuer)
        .setSubject(j.subject)
        .setAudience(ctx.issuer)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
      await refused(ctx, assertion);
    },
  },
];
