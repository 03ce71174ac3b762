/**
 * An exchanged token never outlives its subject token (RFC 8693 §2.2.1 `expires_in`; baton's rule: the
 * exchanged token's lifetime is capped by the subject's), however long the exchange takes between counting
 * its lifetime and signing the token. The clock is made to run fast during the exchange (each reading a
 * second later than the one before), as a loaded machine does between the two.
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { localIssuer } from '../src/idp/registry.ts';
import { exchangeToken, RESOURCES, startTestServer, type TestServer } from './helpers.ts';
import { codeForm, seedCode } from './seed.ts';

const COST = RESOURCES[1]!.uri;
const SECRET = 'expiry-test-secret-0123456789abcdefghij';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    config: (base) => ({
      resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
      clients: {
        static: [
          ...base.clients.static,
          { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
        ],
      },
      delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
    }),
  });
}, 60_000);
afterAll(async () => t?.close());
afterEach(() => void vi.restoreAllMocks());

it("an exchanged token's exp is at most its subject token's, and exp − iat is the expires_in answered", async () => {
  const alice = await t.server.accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: 'alice',
    profile: {},
    groups: ['developers'],
    roles: ['developer'],
  });
  const seed = await seedCode(t.server.provider(), alice.id);
  const subject = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
    .access_token as string;
  const real = Date.now.bind(Date);
  let readings = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => real() + 1000 * readings++);
  const res = await request(t.url)
    .post('/token')
    .auth('logs-mcp', SECRET)
    .type('form')
    .send({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: subject,
      resource: COST,
    })
    .expect(200);
  vi.restoreAllMocks();
  const exchanged = decodeJwt(res.body.access_token as string);
  expect(exchanged.exp).toBeLessThanOrEqual(decodeJwt(subject).exp!);
  expect(exchanged.exp! - exchanged.iat!).toBe(res.body.expires_in);
  // the exchange still works as usual once the clock is back
  await exchangeToken(t.url, 'logs-mcp', SECRET, { subject_token: subject, resource: COST });
});
