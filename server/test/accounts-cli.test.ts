/**
 * Onboarding XAA users ahead of their first sign-in: `baton accounts add` and `baton accounts import`
 * create accounts (IdP, subject, groups) that an ID-JAG redemption then finds; the scope comes from the
 * stored groups through the IdP's role_bindings. An import is validated line by line and all or nothing.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountIdFor } from '../src/accounts/store.ts';
import type { RunningServer } from '../src/main.ts';
import { startTestServer, type TestServer } from './helpers.ts';
import { startHostileIdp, type HostileIdp } from './idp/hostile-idp.ts';
import { runCli, writeConfig } from './processes.ts';
import { tempDir } from './temp.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const LOGS = 'https://logs.mcp.example.com/mcp';
const SECRET = 'xaa-app-secret-0123456789abcdefghij';

let idp: HostileIdp;
let baton: TestServer | undefined;
let server: RunningServer;
let file: string;

beforeAll(async () => {
  idp = await startHostileIdp();
  // PostgreSQL: the CLI and the server share the store (the embedded one serves a single process)
  baton = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      identity_providers: [
        ...base.identity_providers,
        { id: 'corp', type: 'oidc', issuer: idp.issuer, client_id: 'baton', accept_id_jag: true },
      ],
      role_bindings: { ...base.role_bindings, corp: { developers: ['developer'], oncall: ['sre'] } },
      clients: {
        static: [
          ...base.clients.static,
          { client_id: 'xaa-app', kind: 'agent', client_secret: SECRET, grant_types: [JWT_BEARER] },
        ],
      },
    }),
  });
  server = baton.server;
  file = writeConfig({ ...baton.config, logging: { level: 'warn' } });
}, 60_000);
afterAll(async () => {
  await baton?.close();
  await idp?.stop();
});

const redeem = async (sub: string) => {
  const now = Math.floor(Date.now() / 1000);
  const assertion = await idp.sign({
    iss: idp.issuer,
    sub,
    aud: 'http://127.0.0.1:9400',
    client_id: 'xaa-app',
    jti: randomUUID(),
    iat: now,
    exp: now + 120,
    resource: LOGS,
  });
  return request(server.url).post('/token').auth('xaa-app', SECRET).type('form').send({
    grant_type: JWT_BEARER,
    assertion,
  });
};

const importFile = (name: string, content: string) => {
  const path = join(tempDir('import'), name);
  writeFileSync(path, content);
  return path;
};

describe('baton accounts add / import', () => {
  it('an ID-JAG for someone who never signed in is refused until the account is added; then its groups give the scope', async () => {
    const before = await redeem('carol-xaa');
    expect(before.status).toBe(400);
    expect(before.body.error).toBe('invalid_grant');

    const add = await runCli([
      'accounts',
      'add',
      '--config',
      file,
      '--idp',
      'corp',
      '--subject',
      'carol-xaa',
      '--groups',
      'oncall',
      '--email',
      'carol@example.com',
      '--name',
      'Carol',
    ]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const id = accountIdFor(idp.issuer, 'carol-xaa');
    expect(add.stdout).toBe(`${id}  corp  carol-xaa  groups [oncall]  roles [sre]\n`);
    const account = await server.accounts.find(id);
    expect(account).toMatchObject({
      idpId: 'corp',
      groups: ['oncall'],
      roles: ['sre'],
      disabled: false,
      profile: { email: 'carol@example.com', name: 'Carol' },
    });
    const row = await server.storage.db('accounts').where({ id }).first<{ last_login_at: Date | null }>();
    expect(row?.last_login_at).toBeNull(); // no sign-in recorded

    const res = await redeem('carol-xaa');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.scope).toBe('logs.read logs.debug.write incidents.trigger'); // oncall → sre

    // adding again updates the groups (the next redemption maps the new ones)
    const again = await runCli(['accounts', 'add', '--config', file, '--idp', 'corp', '--subject', 'carol-xaa']);
    expect(again.code).toBe(0);
    expect((await server.accounts.find(id))?.groups).toEqual([]);
  });

  it('refuses an unknown IdP, a local directory and a missing subject', async () => {
    const unknown = await runCli(['accounts', 'add', '--config', file, '--idp', 'nope', '--subject', 's']);
    expect(unknown).toMatchObject({ code: 1, stderr: 'baton: idp nope is not in identity_providers\n' });
    const local = await runCli(['accounts', 'add', '--config', file, '--idp', 'local', '--subject', 's']);
    expect(local.code).toBe(1);
    expect(local.stderr).toContain('idp local is a local directory');
    expect((await runCli(['accounts', 'add', '--config', file, '--idp', 'corp'])).code).toBe(64);
  });

  it('an import with a bad line imports nothing and names every bad line', async () => {
    const path = importFile(
      'accounts.jsonl',
      [
        JSON.stringify({ idp: 'corp', subject: 'dave-xaa', groups: ['developers'] }),
        '',
        JSON.stringify({ idp: 'corp', subject: 'erin-xaa', email: 'not-an-email' }),
        JSON.stringify({ idp: 'elsewhere', subject: 'frank-xaa' }),
        JSON.stringify({ idp: 'corp', subject: 'gina-xaa', role: 'admin' }),
      ].join('\n'),
    );
    const res = await runCli(['accounts', 'import', '--config', file, path]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'baton: nothing imported:\n' +
        '  line 3: email: Invalid email address\n' +
        '  line 4: idp elsewhere is not in identity_providers\n' +
        '  line 5: role: unknown field\n',
    );
    expect(await server.accounts.find(accountIdFor(idp.issuer, 'dave-xaa'))).toBeUndefined();
    expect((await redeem('dave-xaa')).status).toBe(400);
  });

  it('a line that is not JSON is named too', async () => {
    const path = importFile('bad.jsonl', `${JSON.stringify({ idp: 'corp', subject: 'h' })}\n{oops\n`);
    const res = await runCli(['accounts', 'import', '--config', file, path]);
    expect(res).toMatchObject({ code: 1, stderr: 'baton: line 2: not a JSON object\n' });
  });

  it('a YAML list imports every account in one go; each redeems with its groups', async () => {
    const path = importFile(
      'accounts.yaml',
      '- { idp: corp, subject: ivan-xaa, groups: [developers] }\n' +
        '- idp: corp\n  subject: judy-xaa\n  groups: [oncall]\n  email: judy@example.com\n',
    );
    const res = await runCli(['accounts', 'import', '--config', file, path]);
    expect(res.stderr).toBe('');
    expect(res).toMatchObject({ code: 0, stdout: 'imported 2 accounts\n' });
    expect((await redeem('ivan-xaa')).body.scope).toBe('logs.read'); // developers → developer
    expect((await redeem('judy-xaa')).body.scope).toBe('logs.read logs.debug.write incidents.trigger');
  });

  it('a bad YAML item is named by its line', async () => {
    const path = importFile('bad.yaml', '- { idp: corp, subject: kim-xaa }\n- idp: corp\n  groups: [x]\n');
    const res = await runCli(['accounts', 'import', '--config', file, path]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'baton: nothing imported:\n  line 2: subject: Invalid input: expected string, received undefined\n',
    );
    expect(await server.accounts.find(accountIdFor(idp.issuer, 'kim-xaa'))).toBeUndefined();
  });
});
