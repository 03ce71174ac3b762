/**
 * Prometheus metrics on their own listener: requests by route and status, tokens issued and refused by
 * grant type and error, with labels from fixed sets only (a request for a random path is counted under
 * route="other", adding no series); the public port does not serve them.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/main.ts';
import { SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';

const COST = 'https://cost.internal.example.com';
let baton: TestServer | undefined;
let server: RunningServer;

beforeAll(async () => {
  baton = await startTestServer({ config: { metrics: { enabled: true, port: 0 } } });
  server = baton.server;
});
afterAll(async () => {
  await baton?.close();
});

const scrape = async () => {
  const res = await fetch(server.metricsUrl!);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
};
/** the value of one series, 0 when absent */
const value = (text: string, series: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${series} `))
      ?.slice(series.length + 1) ?? 0,
  );

describe('metrics', () => {
  it('count requests, tokens issued and refused, with labels from fixed sets only', async () => {
    const before = await scrape();
    const token = (form: Record<string, string>) =>
      request(server.url).post('/token').auth('cost-reporter', SERVICE_SECRET).type('form').send(form);
    await token({ grant_type: 'client_credentials', resource: COST }).expect(200);
    await token({ grant_type: 'client_credentials', resource: COST, scope: 'not.granted' }).expect(400);
    const random = `/nope-${randomUUID()}`;
    await request(server.url).get(random).expect(404);

    const after = await scrape();
    const delta = (series: string) => value(after, series) - value(before, series);
    expect(delta('baton_http_requests_total{method="POST",route="/token",status="200"}')).toBe(1);
    expect(delta('baton_http_requests_total{method="POST",route="/token",status="400"}')).toBe(1);
    expect(delta('baton_tokens_issued_total{grant_type="client_credentials"}')).toBe(1);
    expect(delta('baton_grant_refusals_total{grant_type="client_credentials",error="invalid_scope"}')).toBe(1);
    expect(delta('baton_http_requests_total{method="GET",route="other",status="404"}')).toBe(1);
    expect(delta('baton_http_request_duration_seconds_count{route="/token"}')).toBe(2);
    expect(after).not.toContain(random);
    expect(after).toMatch(/^baton_process_cpu_seconds_total /m);
  });

  it('count a replayed DPoP proof as invalid_dpop_proof, the error the client got (RFC 9449 §5)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: 'http://127.0.0.1:9400/token', jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .setIssuedAt()
      .sign(privateKey);
    const before = await scrape();
    const send = () =>
      request(server.url)
        .post('/token')
        .auth('cost-reporter', SERVICE_SECRET)
        .set('DPoP', proof)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: COST });
    await send().expect(200);
    const replay = await send().expect(400);
    expect(replay.body.error).toBe('invalid_dpop_proof');
    const after = await scrape();
    const delta = (series: string) => value(after, series) - value(before, series);
    expect(delta('baton_grant_refusals_total{grant_type="client_credentials",error="invalid_dpop_proof"}')).toBe(1);
    expect(delta('baton_grant_refusals_total{grant_type="client_credentials",error="invalid_grant"}')).toBe(0);
  });

  it('are not served on the public port, and their listener serves nothing else', async () => {
    await request(server.url).get('/metrics').expect(404);
    expect((await fetch(server.metricsUrl!.replace('/metrics', '/other'))).status).toBe(404);
  });
});
