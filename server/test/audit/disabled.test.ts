/**
 * `audit.enabled: false` (docs/config.md): tokens are issued with no audit record and no checkpoint, while an
 * exchanged token still gets its token_lineage row (revocation walks it), and the server says at start that
 * it keeps no trail (`audit.disabled`, outside development mode).
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { RESOURCES, SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';

const COST = 'https://cost.internal.example.com';
const MCP_SECRET = 'logs-mcp-secret-0123456789abcdef0123';

const withExchange =
  (audit: Record<string, unknown>, mode = 'production') =>
  (base: Config) => ({
    mode,
    resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
    clients: {
      static: [
        ...base.clients.static,
        { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: MCP_SECRET, grant_types: ['client_credentials'] },
      ],
    },
    delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
    // a checkpoint after every batch that adds events, if any did
    audit: { checkpoint_every: 1, ...audit },
  });

const disabledLines = (t: TestServer) => t.logs.lines().filter((l) => l.includes('"msg":"audit.disabled"'));

describe.each(['postgres+redis', 'embedded'] as const)('audit.enabled: false (%s)', (backend) => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ backend, config: withExchange({ enabled: false }) });
  });
  afterAll(async () => t?.close());

  it('issues tokens with no audit record; an exchange still writes its lineage row', async () => {
    const db = t.server.storage.db;
    const cc = await request(t.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST })
      .expect(200);
    expect(decodeJwt(cc.body.access_token as string)).toMatchObject({ client_id: 'cost-reporter', aud: COST });
    const refused = await request(t.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST, scope: 'cost.write' })
      .expect(400);
    expect(refused.body.error).toBe('invalid_scope');

    const account = await seedAccount(t.server.accounts);
    const seed = await seedCode(t.server.provider(), account);
    const subject = await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200);
    const exchanged = await request(t.url)
      .post('/token')
      .auth('logs-mcp', MCP_SECRET)
      .type('form')
      .send({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subject.body.access_token,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: COST,
      })
      .expect(200);
    const { jti } = decodeJwt(exchanged.body.access_token as string);
    const parent = decodeJwt(subject.body.access_token as string).jti;
    expect(await db('token_lineage').where('jti', jti).first('parent_jti', 'account_id', 'actor')).toEqual({
      parent_jti: parent,
      account_id: account,
      actor: 'logs-mcp',
    });
    expect(await db('audit_events').pluck('seq')).toEqual([]);
    expect(await db('audit_checkpoints').pluck('seq')).toEqual([]);
  });

  it('says so at start (production mode)', () => {
    expect(disabledLines(t).map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 40, msg: 'audit.disabled', setting: 'audit.enabled' }),
    ]);
  });
});

describe('audit.enabled (embedded)', () => {
  it('is true by default: the same token request has its record, and no warning is logged', async () => {
    const t = await startTestServer({ config: withExchange({}) });
    try {
      const res = await request(t.url)
        .post('/token')
        .auth('cost-reporter', SERVICE_SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: COST })
        .expect(200);
      const { jti } = decodeJwt(res.body.access_token as string);
      expect(await t.server.storage.db('audit_events').where('jti', jti).pluck('type')).toEqual(['token.issued']);
      expect(disabledLines(t)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('off in development mode: no warning', async () => {
    const t = await startTestServer({ config: withExchange({ enabled: false }, 'development') });
    try {
      expect(t.logs.lines().some((l) => l.includes('"msg":"server.listening"'))).toBe(true);
      expect(disabledLines(t)).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
