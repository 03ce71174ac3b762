/**
 * The Token Status List scenarios can fail: pointed at a test double of a deployment (an in-memory
 * authorization server serving one list, on an ephemeral port) that answers right, they pass; made to answer
 * one thing wrong at a time, the scenario that checks it fails and says what is wrong. (Against baton itself
 * they run in conformance.test.ts.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSuite, type Fixture } from '../src/suite.ts';

/** one wrong answer at a time (undefined: every answer right) */
type Break =
  | 'no-status'
  | 'idx-negative'
  | 'content-type'
  | 'typ'
  | 'foreign-key'
  | 'sub'
  | 'exp-before-iat'
  | 'ttl-zero'
  | 'bits'
  | 'raw-deflate'
  | 'idx-out-of-bounds'
  | 'born-invalid'
  | 'revocation-ignored'
  | 'no-aggregation-endpoint'
  | 'aggregation-missing'
  | 'unknown-200'
  | 'time-ignored'
  | 'no-gzip';
let broken: Break | undefined;
let server: Server;
let issuer: string;
let key: CryptoKey;
let foreign: CryptoKey;
let publicJwk: JWK;
let revoked = false;
const IDX = 5;

const fixture = (): Fixture => ({
  resource: 'https://rs.example.com',
  scope: 'read',
  publicClient: { client_id: 'unused', redirect_uri: 'http://127.0.0.1/callback' },
  user: { username: 'unused', password: 'unused' },
  confidentialClient: { client_id: 'svc', client_secret: 'svc-secret', resource: 'https://rs.example.com' },
});

const listUri = () => `${issuer}/statuslists/1`;

async function accessToken(): Promise<string> {
  const idx = broken === 'idx-negative' ? -1 : broken === 'idx-out-of-bounds' ? 100 : IDX;
  const status = broken === 'no-status' ? {} : { status: { status_list: { idx, uri: listUri() } } };
  return new SignJWT({ client_id: 'svc', ...status })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience('https://rs.example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

/** 16 entries of 1 bit (§4.1: LSB first), entry IDX set once revoked */
async function statusListToken(): Promise<string> {
  const bytes = Buffer.alloc(2);
  if (revoked || broken === 'born-invalid') bytes[0]! |= 1 << IDX;
  const lst = (broken === 'raw-deflate' ? deflateRawSync(bytes) : deflateSync(bytes)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    ttl: broken === 'ttl-zero' ? 0 : 1,
    status_list: { bits: broken === 'bits' ? 3 : 1, lst },
  })
    .setProtectedHeader({ alg: 'ES256', typ: broken === 'typ' ? 'JWT' : 'statuslist+jwt', kid: 'k1' })
    .setSubject(broken === 'sub' ? `${issuer}/statuslists/2` : listUri())
    .setIssuedAt(broken === 'exp-before-iat' ? now + 1000 : now)
    .setExpirationTime(now + 300)
    .sign(broken === 'foreign-key' ? foreign : key);
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json') {
  res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
}

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', issuer);
  if (url.pathname === '/.well-known/oauth-authorization-server')
    return json(res, 200, {
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      ...(broken === 'no-aggregation-endpoint' ? {} : { status_list_aggregation_endpoint: `${issuer}/statuslists` }),
    });
  if (url.pathname === '/jwks') return json(res, 200, { keys: [{ ...publicJwk, kid: 'k1', alg: 'ES256' }] });
  if (url.pathname === '/token') return json(res, 200, { access_token: await accessToken(), token_type: 'Bearer' });
  if (url.pathname === '/token/revocation') {
    if (broken !== 'revocation-ignored') revoked = true;
    return void res.writeHead(200).end();
  }
  if (url.pathname === '/statuslists') {
    const lists = broken === 'aggregation-missing' ? [`${issuer}/statuslists/2`] : [listUri()];
    return json(res, 200, { status_lists: lists });
  }
  if (url.pathname !== '/statuslists/1' && broken !== 'unknown-200') return json(res, 404, { error: 'not_found' });
  if (url.searchParams.has('time') && broken !== 'time-ignored') return json(res, 501, { error: 'invalid_request' });
  const token = await statusListToken();
  const type = broken === 'content-type' ? 'application/jwt' : 'application/statuslist+jwt';
  if (broken !== 'no-gzip' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? ''))
    return void res.writeHead(200, { 'content-type': type, 'content-encoding': 'gzip' }).end(gzipSync(token));
  res.writeHead(200, { 'content-type': type }).end(token);
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  key = pair.privateKey;
  publicJwk = await exportJWK(pair.publicKey);
  foreign = (await generateKeyPair('ES256')).privateKey;
  server = createServer((req, res) => {
    answer(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((ok) => server?.close(ok)));

const run = async (id: string, wrong?: Break) => {
  broken = wrong;
  revoked = false;
  const [result] = await runSuite(issuer, fixture(), [id]);
  return result!;
};

// the user's token of status-list.claim needs baton's sign-in: that half runs against baton only
const serviceOnly = [
  'status-list.token',
  'status-list.revocation',
  'status-list.aggregation',
  'status-list.unknown',
  'status-list.historical',
  'status-list.gzip',
];

describe('the Token Status List scenarios against a test double', () => {
  it.each(serviceOnly)('%s passes when every answer is right', async (id) => {
    expect(await run(id)).toMatchObject({ id, status: 'pass' });
  });

  it.each<[string, Break, string]>([
    ['status-list.claim', 'no-status', 'the client credentials token has no status.status_list'],
    ['status-list.claim', 'idx-negative', 'the client credentials token: idx is not a non-negative integer (-1)'],
    ['status-list.token', 'content-type', 'Content-Type application/jwt, not application/statuslist+jwt'],
    ['status-list.token', 'typ', 'the status list token does not verify: unexpected "typ" JWT header value'],
    ['status-list.token', 'foreign-key', 'the status list token does not verify: signature verification failed'],
    ['status-list.token', 'sub', `/statuslists/2, not the uri `],
    ['status-list.token', 'exp-before-iat', 'is not after iat'],
    ['status-list.token', 'ttl-zero', 'ttl is not a positive number (0)'],
    ['status-list.token', 'bits', 'status_list.bits is 3, not 1, 2, 4 or 8'],
    ['status-list.token', 'raw-deflate', 'status_list.lst is not a ZLIB (RFC 1950) compressed byte array'],
    ['status-list.token', 'idx-out-of-bounds', "idx 100 is out of the list's bounds (16 entries)"],
    ['status-list.token', 'born-invalid', 'a token just issued has status 1 at idx 5, not 0x00 VALID'],
    [
      'status-list.revocation',
      'revocation-ignored',
      'status 0 at idx 5 3000 ms after the revocation, not 0x01 INVALID',
    ],
    ['status-list.aggregation', 'no-aggregation-endpoint', 'the metadata has no status_list_aggregation_endpoint'],
    ['status-list.aggregation', 'aggregation-missing', 'status_lists does not list'],
    ['status-list.unknown', 'unknown-200', 'HTTP 200, not 404'],
    ['status-list.historical', 'time-ignored', 'not valid at that time (not 501)'],
    ['status-list.gzip', 'no-gzip', 'Content-Encoding (none)'],
  ])('%s fails when the deployment breaks it (%s)', async (id, wrong, detail) => {
    const result = await run(id, wrong);
    expect(result).toMatchObject({ id, status: 'fail' });
    expect(result.detail).toContain(detail);
  });
});
