import { describe, expect, it } from 'vitest';
import { errors } from 'oidc-provider';
import { bareProvider } from './bare-provider.ts';
import { invalidRedirectUri } from './redirect-uri-error.ts';

/** a bare provider whose client metadata validator (run for its one extra property) throws `refusal` */
const registering = (refusal: () => Error) =>
  bareProvider({
    features: { registration: { enabled: true } },
    extraClientMetadata: {
      properties: ['x_checked'],
      validator: (ctx: unknown, key: string) => {
        if (ctx !== undefined && key === 'x_checked') throw refusal();
      },
    },
  });
const register = (bare: Awaited<ReturnType<typeof bareProvider>>) =>
  bare.http.post('/reg').send({ client_name: 'refused', redirect_uris: ['https://rp.test/cb'] });

describe('upstream (oidc-provider, what the registration answers rely on)', () => {
  it('InvalidClientMetadata is invalid_redirect_uri when its description starts with redirect_uris', async () => {
    const res = await register(await registering(() => new errors.InvalidClientMetadata('redirect_uris: x: bad')));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_redirect_uri', error_description: 'redirect_uris: x: bad' });
  });

  it('and invalid_client_metadata otherwise (post_logout_redirect_uris included)', async () => {
    const res = await register(
      await registering(() => new errors.InvalidClientMetadata('post_logout_redirect_uris: x: bad')),
    );
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'invalid_client_metadata',
      error_description: 'post_logout_redirect_uris: x: bad',
    });
  });
});

describe('redirect-uri-error', () => {
  it('answers invalid_redirect_uri, naming the URI and the problem', async () => {
    const res = await register(await registering(() => invalidRedirectUri('http://rp.test/cb', 'http is not allowed')));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'invalid_redirect_uri',
      error_description: 'redirect_uris: http://rp.test/cb: http is not allowed',
    });
  });
});
