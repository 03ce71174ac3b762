/** Scenarios: RFC 9449 DPoP. */
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, decodeJwt, SignJWT } from 'jose';
import { assert, userTokens, TE, AT_TYPE, type Scenario } from '../context.ts';

export const dpop: Scenario[] = [
  {
    id: 'dpop.exchange-binding',
    clause: 'RFC 9449 §5 (cnf.jkt, token_type DPoP), §11.1 (proof replay)',
    level: 'MUST',
    title: 'a DPoP proof binds the exchanged token to its key; a replayed proof is refused',
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
      const form = { grant_type: TE, subject_token: access_token, subject_token_type: AT_TYPE, resource: x.target };
      const res = await ctx.form('token', form, { id: x.client_id, secret: x.client_secret }, { DPoP: proof });
      assert(
        res.status === 200 && res.body.token_type === 'DPoP',
        `HTTP ${res.status} token_type ${String(res.body.token_type)}`,
      );
      const cnf = decodeJwt(String(res.body.access_token)).cnf as { jkt?: string } | undefined;
      assert(cnf?.jkt === (await calculateJwkThumbprint(jwk)), 'cnf.jkt is not the proof key thumbprint');
      const replay = await ctx.form('token', form, { id: x.client_id, secret: x.client_secret }, { DPoP: proof });
      assert(replay.status === 400, `a replayed proof was accepted (HTTP ${replay.status})`);
    },
  },
];
