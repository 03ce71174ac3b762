/**
 * The token endpoint's audit trail on a running server (issue #13): every token issued and every refusal has
 * its record, durable before the answer, and the chain verifies.
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readChain, searchEvents, traceToken } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';

const COST = 'https://cost.internal.example.com';

describe.each(['embedded', 'postgres+redis'] as const)('the token endpoint audit trail (%s)', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ backend });
  });
  afterAll(async () => t?.close());

  const clientCredentials = (scope: string) =>
    request(t.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST, scope });

  it('a client credentials token has its token.issued record when the client gets it', async () => {
    const res = await clientCredentials('cost.read').expect(200);
    const { jti } = decodeJwt(res.body.access_token as string);
    const rows = await searchEvents(t.server.storage.db, { jti: String(jti), limit: 10 });
    expect(rows.map((r) => [r.type, r.outcome, r.client_id, r.resource, r.event.scope, r.event.grant_type])).toEqual([
      ['token.issued', 'success', 'cost-reporter', COST, 'cost.read', 'client_credentials'],
    ]);
    expect(JSON.stringify(rows)).not.toContain(res.body.access_token);
  });

  it('a refusal has its token.refused record with the wire code and the typed reason', async () => {
    const res = await clientCredentials('cost.write').expect(400);
    expect(res.body.error).toBe('invalid_scope');
    const rows = await searchEvents(t.server.storage.db, { type: 'token.refused', client: 'cost-reporter', limit: 10 });
    expect(rows.at(-1)?.event).toMatchObject({
      type: 'token.refused',
      outcome: 'refused',
      error: 'invalid_scope',
      reason: 'client_scope_not_allowed',
      grant_type: 'client_credentials',
    });
  });

  it("a user's token is traced to its account and grant; the chain verifies", async () => {
    const account = await seedAccount(t.server.accounts);
    const seed = await seedCode(t.server.provider(), account);
    const res = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const { jti } = decodeJwt(res.body.access_token as string);
    const trace = await traceToken(t.server.storage.db, String(jti));
    const issued = trace.events.find((e) => e.jti === jti);
    expect(issued).toMatchObject({ type: 'token.issued', account_id: account, grant_id: seed.grantId });
    const report = await verifyChain({ rows: readChain(t.server.storage.db), database: [], keys: [] });
    expect(report.problems).toEqual([]);
  });
});
