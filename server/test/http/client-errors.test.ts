/**
 * The error a client gets is the error that is logged and counted (README "Operations"): where baton
 * corrects oidc-provider's code (RFC 6749 §5.2 `unauthorized_client` for a grant type the client may not
 * use, `invalid_client` for no client authentication at all), the log line, the metrics label and the
 * wire body all say the corrected code.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { BACKENDS, batonOn, SERVICE_SECRET } from '../helpers.ts';

const ISSUER = 'http://127.0.0.1:9400';

describe('logs, metrics and the wire say the same error code', () => {
  const baton = batonOn(BACKENDS[0]!, { metrics: { enabled: true, port: 0 } });

  const scrape = async () => (await fetch(baton.server.metricsUrl!)).text();
  const count = (text: string, series: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${series} `))
        ?.slice(series.length + 1) ?? 0,
    );
  /** the log records of `event` written since `from` lines */
  const logged = (from: number, event: string) =>
    baton.logs
      .lines()
      .slice(from)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.event === event);

  it('a grant type the client may not use: unauthorized_client everywhere', async () => {
    const series = 'baton_grant_refusals_total{grant_type="authorization_code",error="unauthorized_client"}';
    const before = await scrape();
    const from = baton.logs.lines().length;
    const res = await request(baton.server.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://a.example/cb' })
      .expect(400);
    expect(res.body).toEqual({
      error: 'unauthorized_client',
      error_description: 'requested grant type is not allowed for this client',
    });
    expect(logged(from, 'grant.error')).toEqual([
      expect.objectContaining({ client_id: 'cost-reporter', error: 'unauthorized_client' }),
    ]);
    expect(count(await scrape(), series) - count(before, series)).toBe(1);
  });

  it.each([
    ['/token', 'grant.error'],
    ['/token/introspection', 'introspection.error'],
    ['/token/revocation', 'revocation.error'],
    ['/request', 'pushed_authorization_request.error'],
  ])('no client authentication at %s: invalid_client everywhere', async (path, event) => {
    const series = 'baton_grant_refusals_total{grant_type="client_credentials",error="invalid_client"}';
    const before = await scrape();
    const from = baton.logs.lines().length;
    const res = await request(baton.server.url)
      .post(path)
      .type('form')
      .send(
        path === '/token'
          ? { grant_type: 'client_credentials' }
          : path === '/request'
            ? { response_type: 'code', redirect_uri: 'http://127.0.0.1/callback' }
            : { token: 'anything' },
      )
      .expect(401);
    expect(res.body).toEqual({ error: 'invalid_client', error_description: 'client authentication is required' });
    expect(res.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}"`);
    expect(logged(from, event)).toEqual([expect.objectContaining({ error: 'invalid_client' })]);
    expect(count(await scrape(), series) - count(before, series)).toBe(path === '/token' ? 1 : 0);
  });
});
