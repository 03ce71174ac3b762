/** Scenarios: RFC 9449 DPoP. */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, decodeJwt, SignJWT, type JWK } from 'jose';
import { assert, clientCredentials, codeForm, exchangeToken, userTokens, type Scenario } from '../context.ts';

export interface ProofKey {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
}

export async function proofKey(): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, jwk: await exportJWK(publicKey) };
}

/** A DPoP proof (RFC 9449 §4.2) for POST to `claims.htu` (with `ath` for a resource); `opts` breaks it on purpose. */
export async function proof(
  key: ProofKey,
  claims: { htu: string; htm?: string; iat?: number; ath?: string },
  opts: { typ?: string; signer?: ProofKey } = {},
): Promise<string> {
  return new SignJWT({ htm: 'POST', jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: opts.typ ?? 'dpop+jwt', jwk: key.jwk })
    .sign((opts.signer ?? key).privateKey);
}

export const dpop: Scenario[] = [
  {
    id: 'dpop.exchange-binding',
    clause: 'RFC 9449 §5 (cnf.jkt, token_type DPoP)',
    level: 'MUST',
    title: 'a DPoP proof binds the exchanged token to its key',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const proof = await new SignJWT({ htm: 'POST', htu: String(ctx.metadata.token_endpoint), jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(privateKey);
      const { access_token } = await userTokens(ctx);
      const res = await exchangeToken(ctx, access_token, {}, x, { DPoP: proof });
      assert(
        res.status === 200 && res.body.token_type === 'DPoP',
        `HTTP ${res.status} token_type ${String(res.body.token_type)}`,
      );
      const cnf = decodeJwt(String(res.body.access_token)).cnf as { jkt?: string } | undefined;
      assert(cnf?.jkt === (await calculateJwkThumbprint(jwk)), 'cnf.jkt is not the proof key thumbprint');
    },
  },
  {
    id: 'dpop.replay',
    clause: 'RFC 9449 §11.1 (a proof jti is accepted once), §5 (invalid_dpop_proof)',
    level: 'SHOULD',
    title: 'a replayed DPoP proof is invalid_dpop_proof, at client credentials and (when configured) at exchange',
    async run(ctx) {
      const key = await proofKey();
      const dPoP = await proof(key, { htu: String(ctx.metadata.token_endpoint) });
      const first = await clientCredentials(ctx, {}, { headers: { DPoP: dPoP } });
      assert(first.status === 200 && first.body.token_type === 'DPoP', `first use: HTTP ${first.status}`);
      const again = await clientCredentials(ctx, {}, { headers: { DPoP: dPoP } });
      assert(
        again.status === 400 && again.body.error === 'invalid_dpop_proof' && again.body.access_token === undefined,
        `client credentials replay: HTTP ${again.status} ${String(again.body.error)}`,
      );
      const x = ctx.fixture.exchange;
      if (!x) return;
      const { access_token } = await userTokens(ctx);
      const exchangeProof = await proof(key, { htu: String(ctx.metadata.token_endpoint) });
      const once = await exchangeToken(ctx, access_token, {}, x, { DPoP: exchangeProof });
      assert(once.status === 200 && once.body.token_type === 'DPoP', `exchange, first use: HTTP ${once.status}`);
      const twice = await exchangeToken(ctx, access_token, {}, x, { DPoP: exchangeProof });
      assert(
        twice.status === 400 && twice.body.error === 'invalid_dpop_proof' && twice.body.access_token === undefined,
        `exchange replay: HTTP ${twice.status} ${String(twice.body.error)}`,
      );
    },
  },

  {
    id: 'dpop.client-credentials',
    clause: 'RFC 9449 §5 (a proof binds the token: cnf.jkt, token_type DPoP), §6.1',
    level: 'MUST',
    title: 'client credentials with a DPoP proof gives a DPoP token bound to the proof key',
    async run(ctx) {
      const key = await proofKey();
      const res = await clientCredentials(
        ctx,
        {},
        { headers: { DPoP: await proof(key, { htu: String(ctx.metadata.token_endpoint) }) } },
      );
      assert(res.status === 200 && res.body.token_type === 'DPoP', `HTTP ${res.status} ${String(res.body.token_type)}`);
      const cnf = decodeJwt(String(res.body.access_token)).cnf as { jkt?: string } | undefined;
      assert(cnf?.jkt === (await calculateJwkThumbprint(key.jwk)), 'cnf.jkt is not the proof key thumbprint');
    },
  },
  {
    id: 'dpop.proof-checks',
    clause: 'RFC 9449 §4.3 (typ, signature by the header key, htm, htu, iat window), §5 (invalid_dpop_proof)',
    level: 'MUST',
    title: 'a proof with the wrong typ, htm or htu, a stale iat, or a bad signature is invalid_dpop_proof',
    async run(ctx) {
      const htu = String(ctx.metadata.token_endpoint);
      const key = await proofKey();
      const other = await proofKey();
      const now = Math.floor(Date.now() / 1000);
      const bad: [string, string][] = [
        ['typ JWT', await proof(key, { htu }, { typ: 'JWT' })],
        ['htm GET', await proof(key, { htu, htm: 'GET' })],
        ['another htu', await proof(key, { htu: `${ctx.issuer}/elsewhere` })],
        ['iat an hour ago', await proof(key, { htu, iat: now - 3600 })],
        ['signed by another key', await proof(key, { htu }, { signer: other })],
      ];
      for (const [what, dPoP] of bad) {
        const res = await clientCredentials(ctx, {}, { headers: { DPoP: dPoP } });
        assert(
          res.status === 400 && res.body.error === 'invalid_dpop_proof' && res.body.access_token === undefined,
          `${what}: HTTP ${res.status} ${String(res.body.error)}`,
        );
      }
    },
  },
  {
    id: 'dpop.metadata',
    clause: 'RFC 9449 §5.1 (dpop_signing_alg_values_supported)',
    level: 'SHOULD',
    title: 'the metadata lists the DPoP proof algorithms, asymmetric only',
    async run(ctx) {
      const algs = ctx.metadata.dpop_signing_alg_values_supported as string[] | undefined;
      assert(Array.isArray(algs) && algs.length > 0, 'not advertised');
      assert(!algs!.some((a) => a === 'none' || a.startsWith('HS')), `symmetric or none listed: ${algs!.join(' ')}`);
    },
  },

  {
    id: 'dpop.code-binding',
    clause: 'RFC 9449 §10 (dpop_jkt binds the authorization code to the key)',
    level: 'MUST',
    title: 'a code requested with dpop_jkt is redeemed only with a proof by that key, and gives a bound token',
    async run(ctx) {
      const key = await proofKey();
      const other = await proofKey();
      const htu = String(ctx.metadata.token_endpoint);
      const redeem = async (dPoP?: string) => {
        const { code, verifier } = await ctx.signIn({ dpop_jkt: await calculateJwkThumbprint(key.jwk) });
        return ctx.form('token', codeForm(ctx, code, verifier), undefined, dPoP ? { DPoP: dPoP } : {});
      };
      const bare = await redeem();
      assert(bare.status === 400 && bare.body.error === 'invalid_grant', `no proof: HTTP ${bare.status}`);
      const wrong = await redeem(await proof(other, { htu }));
      assert(wrong.status === 400 && wrong.body.error === 'invalid_grant', `another key: HTTP ${wrong.status}`);
      const right = await redeem(await proof(key, { htu }));
      assert(right.status === 200 && right.body.token_type === 'DPoP', `the key: HTTP ${right.status}`);
      const cnf = decodeJwt(String(right.body.access_token)).cnf as { jkt?: string } | undefined;
      assert(cnf?.jkt === (await calculateJwkThumbprint(key.jwk)), 'the token is not bound to the key');
    },
  },
];
