import { describe, expect, it } from 'vitest';
import { basic, bareProvider } from './bare-provider.ts';
import { structuredTokenAsUnknown } from './unsupported-token-type.ts';

const SECRET = 'rs-secret-0123456789';
const config = {
  clients: [
    {
      client_id: 'rs',
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  features: { clientCredentials: { enabled: true }, introspection: { enabled: true }, revocation: { enabled: true } },
};
/** a token whose JOSE header decodes (a JWT in form; baton's access tokens are such) */
const JWT = `${Buffer.from('{"alg":"ES256","typ":"at+jwt"}').toString('base64url')}.e30.c2ln`;
const ENDPOINTS = [
  ['introspection', '/token/introspection', 'introspected'],
  ['revocation', '/token/revocation', 'revoked'],
] as const;

async function ask(path: string, token: string, patched: boolean) {
  const bare = await bareProvider(config);
  const rewritten: boolean[] = [];
  if (patched) {
    bare.provider.use(async (ctx, next) => {
      await next();
      rewritten.push(structuredTokenAsUnknown(ctx, path === '/token/introspection'));
    });
  }
  const res = await bare.http.post(path).set('authorization', basic('rs', SECRET)).type('form').send({ token });
  return { res, rewritten };
}

describe('upstream (oidc-provider without the patch)', () => {
  it.each(ENDPOINTS)('%s refuses a JWT with 400 unsupported_token_type', async (route, path, verb) => {
    const { res } = await ask(path, JWT, false);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'unsupported_token_type',
      error_description: `Structured JWT Tokens cannot be ${verb} via the ${route}_endpoint`,
    });
  });

  it('answers an unknown opaque token as inactive (introspection) or with 200 (revocation)', async () => {
    const introspected = (await ask('/token/introspection', 'opaque-unknown', false)).res;
    expect([introspected.status, introspected.body]).toEqual([200, { active: false }]);
    const revoked = (await ask('/token/revocation', 'opaque-unknown', false)).res;
    expect([revoked.status, revoked.text]).toEqual([200, '']);
  });
});

describe('unsupported-token-type (the patch)', () => {
  it('turns the refusal of a JWT into the answer for an unknown token', async () => {
    const introspected = await ask('/token/introspection', JWT, true);
    expect([introspected.res.status, introspected.res.body, introspected.rewritten]).toEqual([
      200,
      { active: false },
      [true],
    ]);
    const revoked = await ask('/token/revocation', JWT, true);
    expect([revoked.res.status, revoked.res.text, revoked.rewritten]).toEqual([200, '', [true]]);
  });

  it('leaves every other answer as it is', async () => {
    const opaque = await ask('/token/introspection', 'opaque-unknown', true);
    expect([opaque.res.status, opaque.res.body, opaque.rewritten]).toEqual([200, { active: false }, [false]]);
    const unauthenticated = { status: 400, body: { error: 'invalid_request' } };
    expect(structuredTokenAsUnknown(unauthenticated, true)).toBe(false);
    expect(unauthenticated).toEqual({ status: 400, body: { error: 'invalid_request' } });
  });
});
