/**
 * The access matrix (issue #15) on a running server: `GET /admin/api/access` and
 * `GET /admin/api/access/people/{account}` for the development-style directory (local alice/developers,
 * bob/oncall, carol/finance with no binding) and an OIDC IdP's provisioned account, checked against the
 * tokens baton actually issues: for each person and resource an authorization code holding every scope of
 * the resource is redeemed, and each delegation hop the matrix lists is exchanged (RFC 8693) — the scopes
 * of every token are exactly those the matrix says, and what it does not list is refused. Then the
 * refusals (no token, another audience, admin.write only, an unknown account) and `baton access …`.
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localIssuer } from '../src/idp/registry.ts';
import { printResult } from '../src/admin/operations.ts';
import { KNOWN_ONLY_NOTE, type DelegationHop, type PersonAccess } from '../src/policy/access-matrix.ts';
import {
  clientCredentialsRequest,
  RESOURCES,
  ROLES,
  startTestServer,
  type TestServer,
  staticService,
} from './helpers.ts';
import { startHostileIdp, type HostileIdp } from './idp/hostile-idp.ts';
import { runCli, writeConfig } from './processes.ts';
import { codeForm, seedCode } from './seed.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const LOGS = RESOURCES[0]!.uri;
const COST = RESOURCES[1]!.uri;
const TICKETS = 'https://tickets.internal.example.com';
const SECRET = 'access-matrix-secret-0123456789abcdefgh';
/** every scope of each resource: what an authorization request without `scope` asks for */
const SCOPES: Record<string, string[]> = {
  [LOGS]: RESOURCES[0]!.scopes,
  [COST]: RESOURCES[1]!.scopes,
  [TICKETS]: ['tickets.create', 'tickets.read'],
};

let t: TestServer;
let idp: HostileIdp;
let file: string;
const ids: Record<string, string> = {};

const client = (client_id: string, kind: string, scopes: string[] = []) =>
  staticService(client_id, SECRET, scopes, kind);

beforeAll(async () => {
  idp = await startHostileIdp();
  // PostgreSQL: the CLI and the server share the store
  t = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      resources: [
        { ...RESOURCES[0]!, client_id: 'logs-mcp' },
        { ...RESOURCES[1]!, client_id: 'cost-svc' },
        { uri: TICKETS, name: 'Ticketing', scopes: SCOPES[TICKETS] },
      ],
      identity_providers: [
        ...base.identity_providers,
        { id: 'corp', type: 'oidc', issuer: idp.issuer, client_id: 'baton' },
      ],
      roles: { ...ROLES, finance: ['cost.read'] },
      role_bindings: { ...base.role_bindings, corp: { finance: ['finance'] } },
      clients: {
        static: [
          ...base.clients.static,
          client('logs-mcp', 'mcp_server'),
          client('cost-svc', 'service'),
          client('matrix-reader', 'service', ['admin.read']),
          client('matrix-writer', 'service', ['admin.write']),
        ],
      },
      delegation: [
        { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 },
        { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'], max_chain: 3 },
      ],
    }),
  });
  const { accounts } = t.server;
  // signed in through the local directory (as its login route records them)
  for (const [subject, groups, roles] of [
    ['alice', ['developers'], ['developer']],
    ['bob', ['oncall'], ['sre']],
    ['carol', ['finance'], []],
  ] as const) {
    const a = await accounts.recordLogin({
      idpId: 'local',
      idpIssuer: localIssuer('local'),
      idpSubject: subject,
      profile: { preferred_username: subject, email: `${subject}@example.com` },
      groups: [...groups],
      roles: [...roles],
    });
    ids[subject] = a.id;
  }
  // the OIDC IdP's person, provisioned (never signed in), and a disabled developer
  const dave = { idpId: 'corp', idpIssuer: idp.issuer, subject: 'dave', groups: ['finance'], roles: ['finance'] };
  ids.dave = (await accounts.provision(dave)).id;
  const erin = { idpId: 'local', idpIssuer: localIssuer('local'), subject: 'erin', groups: ['developers'], roles: [] };
  ids.erin = (await accounts.provision(erin)).id;
  await accounts.setDisabled(ids.erin, true);
  file = writeConfig({ ...t.config, logging: { level: 'warn' } });
}, 60_000);
afterAll(async () => {
  await t?.close();
  await idp?.stop();
});

const adminToken = async (c: string) =>
  (await clientCredentialsRequest(t.url, c, SECRET, ADMIN).expect(200)).body.access_token as string;
const get = async (path: string, token?: string) => {
  const req = request(t.url).get(path);
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
};
const scopeOf = (token: string) => String(decodeJwt(token).scope).split(' ').sort();
const sorted = (s: readonly string[]) => [...s].sort();
const lastSignIn = async (id: string) =>
  new Date((await t.server.storage.db('accounts').where({ id }).first()).last_login_at).toISOString();

describe('the access matrix (GET /admin/api/access)', () => {
  it('lists, per scope, the roles, their groups and the known accounts, and says who is not listed', async () => {
    const res = await get('/admin/api/access', await adminToken('matrix-reader'));
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const who = async (name: string, idpId: string, signedIn: boolean, disabled = false) => ({
      id: ids[name],
      idp: idpId,
      subject: name,
      last_sign_in: signedIn ? await lastSignIn(ids[name]!) : null,
      disabled,
    });
    const developers = {
      idp: 'local',
      group: 'developers',
      accounts: [await who('alice', 'local', true), await who('erin', 'local', false, true)],
    };
    const oncall = { idp: 'local', group: 'oncall', accounts: [await who('bob', 'local', true)] };
    const finance = { idp: 'corp', group: 'finance', accounts: [await who('dave', 'corp', false)] };
    expect(res.body).toEqual({
      note: KNOWN_ONLY_NOTE,
      resources: [
        {
          uri: LOGS,
          name: 'Production logs (MCP)',
          scopes: [
            {
              scope: 'logs.read',
              roles: [
                { role: 'developer', groups: [developers] },
                { role: 'sre', groups: [oncall] },
              ],
            },
            { scope: 'logs.debug.write', roles: [{ role: 'sre', groups: [oncall] }] },
            { scope: 'incidents.trigger', roles: [{ role: 'sre', groups: [oncall] }] },
          ],
        },
        {
          uri: COST,
          name: 'Cost dashboard API',
          scopes: [
            { scope: 'cost.read', roles: [{ role: 'finance', groups: [finance] }] },
            { scope: 'cost.write', roles: [] },
          ],
        },
        {
          uri: TICKETS,
          name: 'Ticketing',
          scopes: [
            { scope: 'tickets.create', roles: [] },
            { scope: 'tickets.read', roles: [] },
          ],
        },
      ],
      builtin_resources: [
        { uri: `${ISSUER}/audit`, name: "baton's audit API", scopes: ['audit.write'], builtin: true },
        {
          uri: ADMIN,
          name: "baton's admin API",
          scopes: ['admin.read', 'admin.write'],
          builtin: true,
          // people reach it through the admin console only; no role of this policy lists its scopes
          people: {
            through: 'baton-admin-console',
            scopes: [
              { scope: 'admin.read', roles: [] },
              { scope: 'admin.write', roles: [] },
            ],
          },
        },
        // every person, through the connect pages' client only (issue #20)
        { uri: `${ISSUER}/connect`, name: "baton's connect pages", scopes: ['connect'], builtin: true },
      ],
    });
    expect(res.body.note).toContain('People who never signed in are known only to the identity provider');
  });
});

/** Each hop the matrix lists is an exchange baton grants with exactly its scopes; an unlisted target is refused. */
async function checkHops(subjectToken: string, from: string, hops: readonly DelegationHop[]): Promise<number> {
  const actor = { [LOGS]: 'logs-mcp', [COST]: 'cost-svc' }[from];
  let checked = 0;
  for (const target of [LOGS, COST, TICKETS]) {
    const hop = hops.find((h) => h.target === target);
    const res = actor
      ? await request(t.url).post('/token').auth(actor, SECRET).type('form').send({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          subject_token: subjectToken,
          resource: target,
        })
      : undefined;
    if (!hop) {
      // no actor (the resource has no server) or no rule: the matrix lists nothing, baton grants nothing
      if (res) expect(res.status, `${actor} → ${target}`).toBe(400);
      continue;
    }
    expect(hop.actor).toBe(actor);
    expect(res!.status, `${actor} → ${target}`).toBe(200);
    expect(scopeOf(res!.body.access_token as string)).toEqual(sorted(hop.scopes));
    checked += 1 + (await checkHops(res!.body.access_token as string, target, hop.hops));
  }
  return checked;
}

describe("one person's access matches the tokens baton issues (GET /admin/api/access/people/{account})", () => {
  const cases = [
    // name, as the operator names them, resources and hops the matrix must list
    ['alice', 'alice', [LOGS], 2],
    ['bob', 'local:bob', [LOGS], 2],
    ['carol', 'carol@example.com', [], 0],
    ['dave', 'corp:dave', [COST], 1],
  ] as const;
  it.each(cases)('%s (named %s)', async (name, named, resources, hopCount) => {
    const res = await get(`/admin/api/access/people/${encodeURIComponent(named)}`, await adminToken('matrix-reader'));
    expect(res.status).toBe(200);
    const access = res.body as PersonAccess;
    expect(access.account.id).toBe(ids[name]);
    expect(access.resources.map((r) => r.uri)).toEqual(resources);
    let hops = 0;
    for (const uri of [LOGS, COST, TICKETS]) {
      const seed = await seedCode(t.server.provider(), ids[name]!, uri, SCOPES[uri]);
      const token = await request(t.url).post('/token').type('form').send(codeForm(seed));
      const listed = access.resources.find((r) => r.uri === uri);
      if (!listed) {
        // the matrix lists no scope here: the code is refused (the roles grant nothing of it)
        expect([token.status, token.body.error], uri).toEqual([400, 'invalid_grant']);
        continue;
      }
      expect(token.status, uri).toBe(200);
      expect(scopeOf(token.body.access_token as string)).toEqual(sorted(listed.scopes.map((s) => s.scope)));
      hops += await checkHops(token.body.access_token as string, uri, listed.delegation);
    }
    expect(hops).toBe(hopCount);
  });

  it('bob: each scope through oncall → sre, and the two hops of his logs token', async () => {
    const res = await get('/admin/api/access/people/bob', await adminToken('matrix-reader'));
    expect(res.body).toEqual({
      note: KNOWN_ONLY_NOTE,
      account: {
        id: ids.bob,
        idp: 'local',
        subject: 'bob',
        groups: ['oncall'],
        roles: ['sre'],
        last_sign_in: await lastSignIn(ids.bob!),
        disabled: false,
      },
      resources: [
        {
          uri: LOGS,
          name: 'Production logs (MCP)',
          scopes: ['logs.read', 'logs.debug.write', 'incidents.trigger'].map((scope) => ({
            scope,
            via: [{ group: 'oncall', role: 'sre' }],
          })),
          delegation: [
            {
              actor: 'logs-mcp',
              target: COST,
              scopes: ['cost.read'],
              depth: 2,
              max_chain: 3,
              impersonation: false,
              hops: [
                {
                  actor: 'cost-svc',
                  target: TICKETS,
                  scopes: ['tickets.create'],
                  depth: 3,
                  max_chain: 3,
                  impersonation: false,
                  hops: [],
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('a disabled account is marked, and gets no token', async () => {
    const res = await get(`/admin/api/access/people/${ids.erin}`, await adminToken('matrix-reader'));
    expect(res.body.account).toMatchObject({ disabled: true, last_sign_in: null, roles: ['developer'] });
    expect(res.body.account.note).toMatch(/disabled/);
  });
});

describe('refusals', () => {
  it('no token: 401 with the bare challenge naming admin.read', async () => {
    for (const path of ['/admin/api/access', '/admin/api/access/people/alice']) {
      const res = await get(path);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
      expect(res.headers['www-authenticate']).toBe(`Bearer realm="${ADMIN}", scope="admin.read"`);
    }
  });

  it("a token for another audience (alice's logs token): 401 invalid_token", async () => {
    const seed = await seedCode(t.server.provider(), ids.alice!);
    const token = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
      .access_token as string;
    const res = await get('/admin/api/access', token);
    expect([res.status, res.body.error]).toEqual([401, 'invalid_token']);
  });

  it('an admin token with admin.write only: 403 insufficient_scope (a read needs admin.read)', async () => {
    const writer = await adminToken('matrix-writer');
    for (const path of ['/admin/api/access', '/admin/api/access/people/alice']) {
      const res = await get(path, writer);
      expect([res.status, res.body.error]).toEqual([403, 'insufficient_scope']);
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin.read"/);
    }
  });

  it('an unknown account: 404 not_found; a query parameter: 400', async () => {
    const reader = await adminToken('matrix-reader');
    const unknown = await get('/admin/api/access/people/nobody', reader);
    expect([unknown.status, unknown.body.error]).toEqual([404, 'not_found']);
    expect(unknown.body.error_description).toMatch(/^no account matches "nobody"/);
    const param = await get('/admin/api/access?account=alice', reader);
    expect([param.status, param.body.error]).toEqual([400, 'invalid_request']);
  });

  it('a name two accounts answer to: 409 with both listed', async () => {
    const other = { idpId: 'corp', idpIssuer: idp.issuer, subject: 'carol', groups: [], roles: [] };
    const corpCarol = (await t.server.accounts.provision(other)).id;
    const res = await get('/admin/api/access/people/carol', await adminToken('matrix-reader'));
    expect([res.status, res.body.error]).toEqual([409, 'invalid_request']);
    expect(res.body.error_description).toContain(ids.carol);
    expect(res.body.error_description).toContain(corpCarol);
  });
});

describe('baton access matrix | person ACCOUNT', () => {
  it('prints what the API answers', async () => {
    const reader = await adminToken('matrix-reader');
    const matrix = await runCli(['access', 'matrix', '--config', file]);
    expect(matrix.stderr).toBe('');
    expect(matrix.code).toBe(0);
    expect(matrix.stdout).toBe(printResult('access.matrix', (await get('/admin/api/access', reader)).body));
    expect(matrix.stdout).toContain(
      [
        `${LOGS}  Production logs (MCP)`,
        '  logs.read',
        '    role developer',
        '      group local:developers',
        `        ${ids.alice} (local:alice)  last sign-in ${await lastSignIn(ids.alice!)}`,
        `        ${ids.erin} (local:erin)  never signed in  DISABLED`,
      ].join('\n'),
    );
    expect(matrix.stdout).toContain('  cost.write  (no role grants it)\n');
    expect(matrix.stdout).toContain(KNOWN_ONLY_NOTE);

    const person = await runCli(['access', 'person', '--config', file, 'alice']);
    expect(person.code).toBe(0);
    expect(person.stdout).toBe(
      [
        `${ids.alice} (local:alice)  last sign-in ${await lastSignIn(ids.alice!)}`,
        '  groups [developers]  roles [developer]',
        `${LOGS}  Production logs (MCP)`,
        '  logs.read  via local:developers → developer',
        `  exchange by logs-mcp → ${COST}  [cost.read]  (chain 2 of max 3)`,
        `    exchange by cost-svc → ${TICKETS}  [tickets.create]  (chain 3 of max 3)`,
        '',
        KNOWN_ONLY_NOTE,
        '',
      ].join('\n'),
    );
    const unknown = await runCli(['access', 'person', '--config', file, 'nobody']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no account matches "nobody"/);
  });
});
