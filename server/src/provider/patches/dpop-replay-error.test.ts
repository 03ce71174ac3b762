import { describe, expect, it } from 'vitest';
import type Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { basic, bareProvider, ISSUER } from './bare-provider.ts';
import { DPOP_REPLAY_DETAIL, dpopReplayIsInvalidProof } from './dpop-replay-error.ts';
import type { ProviderError } from './client-error-codes.ts';

const config = {
  clients: [
    {
      client_id: 'svc',
      client_secret: 'svc-secret-0123456789',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  features: { clientCredentials: { enabled: true }, dPoP: { enabled: true } },
};

/** an RFC 9449 §4.2 proof for POST /token */
async function proof(): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return new SignJWT({ htm: 'POST', htu: `${ISSUER}/token`, jti: randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
    .setIssuedAt()
    .sign(privateKey);
}

/** the same proof twice: the second answer, and the error a listener registered last saw */
async function replay(provider: Provider, http: Awaited<ReturnType<typeof bareProvider>>['http']) {
  let seen: ProviderError | undefined;
  provider.on('grant.error', (_ctx: unknown, err: ProviderError) => (seen = { ...err }));
  const dpop = await proof();
  const send = () =>
    http
      .post('/token')
      .set('authorization', basic('svc', 'svc-secret-0123456789'))
      .set('host', new URL(ISSUER).host) // htu is the URL the request was sent to
      .set('dpop', dpop)
      .type('form')
      .send({ grant_type: 'client_credentials' });
  const first = await send();
  expect(first.status).toBe(200);
  expect(first.body.token_type).toBe('DPoP');
  return { res: await send(), seen: () => seen };
}

describe('upstream (oidc-provider without the patch)', () => {
  it('answers a replayed DPoP proof at the token endpoint with invalid_grant, detail "DPoP proof JWT Replay detected"', async () => {
    const { provider, http } = await bareProvider(config);
    const { res, seen } = await replay(provider, http);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    expect(seen()).toMatchObject({ error: 'invalid_grant', error_detail: DPOP_REPLAY_DETAIL });
  });
});

describe('dpop-replay-error (the patch)', () => {
  it('answers invalid_dpop_proof, and the listeners after it see that code', async () => {
    const { provider, http } = await bareProvider(config);
    provider.on(dpopReplayIsInvalidProof[0] as 'grant.error', dpopReplayIsInvalidProof[1]);
    const { res, seen } = await replay(provider, http);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_dpop_proof', error_description: DPOP_REPLAY_DETAIL });
    expect(seen()).toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
