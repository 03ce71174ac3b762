/** Scenarios: RFC 8693 token exchange. */
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWK } from 'jose';
import { assert, exchangeToken, userTokens, AT_TYPE, type Scenario } from '../context.ts';

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
      const res = await exchangeToken(ctx, access_token);
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
      const bad = await exchangeToken(ctx, 'not-a-token');
      assert(bad.status === 400 && bad.body.error === 'invalid_request', `bad subject: ${String(bad.body.error)}`);
      const { access_token } = await userTokens(ctx);
      const target = await exchangeToken(ctx, access_token, { resource: 'https://unknown-resource.invalid' });
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
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, { act: JSON.stringify({ sub: 'admin' }) });
      assert(res.status === 200, `HTTP ${res.status}`);
      assert(
        !JSON.stringify(decodeJwt(String(res.body.access_token)).act).includes('admin'),
        'the client-supplied act was copied',
      );
    },
  },

  {
    id: 'token-exchange.two-hops',
    clause: 'RFC 8693 §4.1 (nested act: the current actor first, then the prior ones), §2.2.1',
    level: 'MUST',
    title: "a second hop nests the chain: act = next service, then the first actor, then the user's client",
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      assert(x.next, 'the fixture names no second hop (exchange.next)');
      const { access_token } = await userTokens(ctx);
      const hop1 = await exchangeToken(ctx, access_token);
      assert(hop1.status === 200, `first hop: HTTP ${hop1.status} ${String(hop1.body.error)}`);
      const hop2 = await exchangeToken(ctx, String(hop1.body.access_token), {}, x.next);
      assert(hop2.status === 200, `second hop: HTTP ${hop2.status} ${String(hop2.body.error)}`);
      const claims = decodeJwt(String(hop2.body.access_token));
      const chain: string[] = [];
      for (let a = claims.act as { sub?: string; act?: unknown } | undefined; a; a = a.act as typeof a)
        chain.push(String(a.sub));
      assert(
        JSON.stringify(chain) === JSON.stringify([x.next!.client_id, x.client_id, ctx.fixture.publicClient.client_id]),
        `act chain is ${JSON.stringify(chain)}`,
      );
      const first = decodeJwt(String(hop1.body.access_token));
      assert(claims.sub === first.sub && claims.aud === x.next!.target, 'subject or audience wrong');
      assert(claims.exp! <= first.exp!, 'the second hop outlives the first');
    },
  },
  {
    id: 'token-exchange.required-params',
    clause: 'RFC 8693 §2.1 (subject_token and subject_token_type REQUIRED; actor_token_type REQUIRED with actor_token)',
    level: 'MUST',
    title: 'an exchange without subject_token_type, or with actor_token but no actor_token_type, is invalid_request',
    needs: ['exchange'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const noType = await exchangeToken(ctx, access_token, { subject_token_type: undefined });
      assert(
        noType.status === 400 && noType.body.error === 'invalid_request',
        `no subject_token_type: ${String(noType.body.error)}`,
      );
      const noActorType = await exchangeToken(ctx, access_token, { actor_token: access_token });
      assert(
        noActorType.status === 400 && noActorType.body.error === 'invalid_request',
        `actor_token without actor_token_type: ${String(noActorType.body.error)}`,
      );
    },
  },
  {
    id: 'token-exchange.unsupported-type',
    clause: 'RFC 8693 §2.2.2 (invalid_request for an unsupported subject token type)',
    level: 'MUST',
    title: 'a subject_token_type the server does not accept is invalid_request',
    needs: ['exchange'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, {
        subject_token_type: 'urn:ietf:params:oauth:token-type:saml2',
      });
      assert(
        res.status === 400 && res.body.error === 'invalid_request',
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'token-exchange.scope',
    clause: 'RFC 8693 §2.2.2 (invalid_scope), §5 (no broader than the subject); RFC 6749 §3.3',
    level: 'MUST',
    title: 'an exchange asking only for scopes outside what the actor may pass on is invalid_scope',
    needs: ['exchange'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, { scope: 'conformance.never-granted' });
      assert(res.status === 400 && res.body.error === 'invalid_scope', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'token-exchange.client-auth',
    clause: 'RFC 8693 §2.1 (client authentication per RFC 6749 §3.2.1); RFC 6749 §5.2 (invalid_client, 401)',
    level: 'MUST',
    title: 'an exchange with a wrong client secret is 401 invalid_client, and nothing is issued',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, {}, { ...x, client_secret: 'wrong-secret' });
      assert(
        res.status === 401 && res.body.error === 'invalid_client' && res.body.access_token === undefined,
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'token-exchange.revoked-subject',
    clause: 'RFC 8693 §2.2.2 (an invalid subject token is invalid_request); RFC 7009 §2.1',
    level: 'MUST',
    title: "once the user's token is revoked, it can no longer be exchanged",
    needs: ['exchange'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const revoked = await ctx.form('/token/revocation', {
        token: access_token,
        client_id: ctx.fixture.publicClient.client_id,
      });
      assert(revoked.status === 200, `revocation: HTTP ${revoked.status}`);
      // revocation reaches every server process within the state cache (a second on baton)
      await new Promise((ok) => setTimeout(ok, 1200));
      const res = await exchangeToken(ctx, access_token);
      assert(
        res.status === 400 && res.body.error === 'invalid_request',
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },

  {
    id: 'token-exchange.forged-subject',
    clause:
      'RFC 8693 §2.2.2 (an invalid subject token is invalid_request); RFC 8725 §2.1, §3.1 (no alg none, no algorithm confusion)',
    level: 'MUST',
    title:
      'a subject token re-signed with alg none, with HS256 keyed by the public JWK, or with an edited payload is invalid_request',
    needs: ['exchange'],
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      const [header, payload, signature] = access_token.split('.') as [string, string, string];
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const claims = decodeJwt(access_token);
      const publicJwk = ((await (await fetch(String(ctx.metadata.jwks_uri))).json()) as { keys: JWK[] }).keys.find(
        (k) => k.kid === decodeProtectedHeader(access_token).kid,
      );
      assert(publicJwk, 'the token key is not in the JWKS');
      const forged: [string, string][] = [
        ['alg none', `${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`],
        [
          'HS256 keyed by the public JWK',
          await new SignJWT(claims)
            .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk!.kid })
            .sign(new TextEncoder().encode(JSON.stringify(publicJwk))),
        ],
        ['an edited payload', `${header}.${b64({ ...claims, scope: `${String(claims.scope)} admin` })}.${signature}`],
      ];
      for (const [what, subject] of forged) {
        const res = await exchangeToken(ctx, subject);
        assert(
          res.status === 400 && res.body.error === 'invalid_request' && res.body.access_token === undefined,
          `${what}: HTTP ${res.status} ${String(res.body.error)}`,
        );
      }
    },
  },
];
