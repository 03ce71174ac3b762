/**
 * The gateway's upstream secrets (issue #16, item 2, server/src/secrets/): stored in PostgreSQL sealed under
 * the KEK, set and rotated with `baton secrets …` (the value on stdin) and through the admin API, read by
 * every gateway process through secretReader, which follows a rotation made anywhere within its refresh and
 * hands out the previous version only during its overlap; `baton keys rewrap` re-encrypts them. The value
 * never appears in a command's output, an API answer, an audit record or a log line; bad input gets a
 * precise refusal and stores nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeProtectedHeader } from 'jose';
import knexFactory, { type Knex } from 'knex';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../src/audit/store.ts';
import { generateKekValue, kekFrom, type Kek } from '../src/keys/kek.ts';
import { SecretNotFound, secretReader, type SecretReader } from '../src/secrets/reader.ts';
import {
  clientCredentialsRequest,
  freshDatabase,
  KEK,
  makeConfig,
  startTestServer,
  staticService,
  type TestServer,
} from './helpers.ts';
import { runCli, writeConfig } from './processes.ts';

const ISSUER = 'http://127.0.0.1:9400';
const ADMIN = `${ISSUER}/admin/api`;
const CLIENT_SECRET = 'secrets-test-client-secret-0123456789abc';
/** the values stored: none of them may appear anywhere but in a reader's answer */
const VALUE = (tag: string) => `sk-live-${tag}-9f8e7d6c5b4a39281706`;

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** a KEK that counts its decryptions (the reader decrypts only what changed) */
function counting(kek: Kek): Kek & { decrypts: () => number } {
  let n = 0;
  return {
    id: kek.id,
    idOf: (j) => kek.idOf(j),
    encrypt: (p) => kek.encrypt(p),
    decrypt: (j) => {
      n++;
      return kek.decrypt(j);
    },
    decrypts: () => n,
  };
}

const secretEvents = async (db: Knex) =>
  (await searchEvents(db, { type: 'secret.changed', limit: 1000 })).map((r) => r.event.details);

/** everything of the audit trail and the table that could carry a value, as one text */
async function stored(db: Knex): Promise<string> {
  const audit = await db('audit_events').select('event');
  const secrets = await db('upstream_secrets').select('*');
  return JSON.stringify([audit, secrets]);
}

let t: TestServer;
let file: string;
const readers: SecretReader[] = [];
const reader = (kek: Kek = kekFrom(KEK), db: Knex = t.server.storage.db, refreshSeconds = 0.2) => {
  const r = secretReader(db, kek, { refreshSeconds });
  readers.push(r);
  return r;
};

beforeAll(async () => {
  t = await startTestServer({
    backend: 'postgres',
    config: (base) => ({
      clients: {
        ...base.clients,
        static: [
          ...base.clients.static,
          staticService('secrets-reader', CLIENT_SECRET, ['admin.read']),
          staticService('secrets-writer', CLIENT_SECRET, ['admin.read', 'admin.write']),
        ],
      },
    }),
  });
  file = writeConfig({ ...t.config, logging: { level: 'warn' } });
}, 60_000);
afterAll(async () => {
  for (const r of readers) r.close();
  await t?.close();
});

/** the options first: a name after '--' is not read as one */
const cli = (args: string[], stdin?: string) => runCli(['--config', file, ...args], {}, stdin);

describe('baton secrets set|rotate|list|delete (PostgreSQL)', () => {
  it('stores the value from stdin, rotates it, lists it and deletes it; the value is never shown or recorded', async () => {
    const db = t.server.storage.db;
    const set = await cli(['secrets', 'set', 'search-api'], `${VALUE('one')}\n`);
    expect(set).toEqual({ code: 0, stdout: 'created secret search-api version 1\n', stderr: '' });
    expect((await reader().current('search-api')).value).toBe(VALUE('one')); // the trailing newline dropped

    const rotated = await cli(['secrets', 'rotate', 'search-api', '--overlap', '600'], VALUE('two'));
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(
      /^rotated secret search-api to version 2; version 1 is still handed out until \d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
    );
    const list = await cli(['secrets', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^search-api {2}version 2 {2}created \S+Z {2}previous 1 until \S+Z\n$/);
    const deleted = await cli(['secrets', 'delete', 'search-api']);
    expect(deleted).toEqual({ code: 0, stdout: 'deleted secret search-api (version 2)\n', stderr: '' });
    expect(await db('upstream_secrets').where({ name: 'search-api' })).toEqual([]);
    expect((await cli(['secrets', 'list'])).stdout).not.toContain('search-api');

    expect(await secretEvents(db)).toEqual([
      { action: 'created', name: 'search-api', version: 1, operation: 'secrets.set', via: 'store' },
      {
        action: 'rotated',
        name: 'search-api',
        version: 2,
        operation: 'secrets.rotate',
        previous_version: 1,
        valid_until: expect.stringMatching(/Z$/),
        via: 'store',
      },
      { action: 'deleted', name: 'search-api', version: 2, versions: 2, operation: 'secrets.delete', via: 'store' },
    ]);
    for (const out of [set, rotated, list, deleted]) expect(out.stdout + out.stderr).not.toMatch(/sk-live/);
    expect(await stored(db)).not.toMatch(/sk-live/);
  });

  it('refuses bad names, empty, multi-line and oversized values: nothing stored', async () => {
    for (const name of ['bad/name', 'a b', '.hidden', 'x'.repeat(65), 'naïve']) {
      const r = await cli(['secrets', 'set', '--', name], VALUE('bad-name'));
      expect(r.code, name).toBe(1);
      expect(r.stderr).toBe(
        'baton: secrets.set: name: a secret name is 1–64 characters of A-Z a-z 0-9 . _ -, the first a letter or a digit\n',
      );
    }
    expect((await cli(['secrets', 'set', 'empty'], '\n')).stderr).toBe('baton: secrets.set: value: is empty\n');
    expect((await cli(['secrets', 'set', 'empty'])).stderr).toBe('baton: secrets.set: value: is empty\n');
    const twoLines = await cli(['secrets', 'set', 'lines'], `${VALUE('a')}\n${VALUE('b')}\n`);
    expect(twoLines.stderr).toBe('baton: secrets.set: value: has a line break or another control character\n');
    const big = await cli(['secrets', 'set', 'big'], 'k'.repeat(8193));
    expect(big.stderr).toBe('baton: secrets.set: value: is longer than 8192 bytes\n');
    // 8 KiB exactly is fine
    expect((await cli(['secrets', 'set', 'big'], `${'k'.repeat(8192)}\n`)).code).toBe(0);
    expect((await reader().current('big')).value).toHaveLength(8192);

    expect((await t.server.storage.db('upstream_secrets').select('name')).map((r) => r.name as string)).toEqual([
      'big',
    ]);
    expect(await stored(t.server.storage.db)).not.toMatch(/sk-live/);
  }, 90_000);

  it('refuses a second set, unknown names, bad usage: nothing overwritten, the refusals recorded', async () => {
    const db = t.server.storage.db;
    expect((await cli(['secrets', 'set', 'twice'], VALUE('first'))).code).toBe(0);
    const again = await cli(['secrets', 'set', 'twice'], VALUE('overwrite'));
    expect(again).toEqual({
      code: 1,
      stdout: '',
      stderr: 'baton: secret twice exists; rotate it to store a new value\n',
    });
    expect((await reader().current('twice')).value).toBe(VALUE('first'));
    expect((await cli(['secrets', 'rotate', 'nobody'], VALUE('x'))).stderr).toBe('baton: no secret nobody\n');
    expect((await cli(['secrets', 'delete', 'nobody'])).stderr).toBe('baton: no secret nobody\n');

    // usage: no name, --overlap where it does not belong or not a number
    expect((await cli(['secrets', 'set'], VALUE('x'))).code).toBe(64);
    expect((await cli(['secrets', 'set', 'ov', '--overlap', '5'], VALUE('x'))).code).toBe(64);
    expect((await cli(['secrets', 'rotate', 'twice', '--overlap', 'soon'], VALUE('x'))).code).toBe(64);
    const tooLong = await cli(['secrets', 'rotate', 'twice', '--overlap', '2592001'], VALUE('x'));
    expect(tooLong.stderr).toBe('baton: secrets.rotate: overlap_seconds: 0 to 2592000 seconds (30 days)\n');

    expect((await db('upstream_secrets').select('name')).map((r) => r.name as string).sort()).toEqual(['big', 'twice']);
    expect(await stored(db)).not.toMatch(/sk-live/);
    // the refusals are recorded as such, without their arguments
    const refused = await searchEvents(db, { type: 'admin.operation', outcome: 'refused', limit: 1000 });
    expect(refused.map((r) => r.event.reason)).toEqual(expect.arrayContaining(['invalid_request', 'conflict']));
  }, 90_000);
});

describe('the admin API: /admin/api/secrets', () => {
  const token = async (client: string) =>
    (await clientCredentialsRequest(t.url, client, CLIENT_SECRET, ADMIN).expect(200)).body.access_token as string;
  const call = (method: 'get' | 'put' | 'post' | 'delete', path: string, bearer?: string) => {
    const r = request(t.url)[method](path);
    return bearer ? r.set('Authorization', `Bearer ${bearer}`) : r;
  };

  it('scopes: no token → 401, admin.read lists but may not change', async () => {
    const none = await call('get', '/admin/api/secrets');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Bearer realm="${ADMIN}", scope="admin.read"`);
    const reader = await token('secrets-reader');
    expect((await call('get', '/admin/api/secrets', reader)).status).toBe(200);
    for (const [method, path] of [
      ['put', '/admin/api/secrets/by-reader'],
      ['post', '/admin/api/secrets/by-reader/rotate'],
      ['delete', '/admin/api/secrets/by-reader'],
    ] as const) {
      const r = await call(method, path, reader).send({ value: VALUE('reader') });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error).toBe('insufficient_scope');
      expect(r.headers['www-authenticate']).toContain('scope="admin.write"');
    }
    expect(await t.server.storage.db('upstream_secrets').where({ name: 'by-reader' })).toEqual([]);
  });

  it('creates, rotates, lists and deletes; 409 twice, 404 unknown; answers and logs never carry the value', async () => {
    const writer = await token('secrets-writer');
    const created = await call('put', '/admin/api/secrets/crm-key', writer).send({ value: VALUE('api-1') });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'crm-key', version: 1, created_at: expect.stringMatching(/Z$/) });
    const twice = await call('put', '/admin/api/secrets/crm-key', writer).send({ value: VALUE('api-x') });
    expect(twice.status).toBe(409);
    expect(twice.body).toEqual({
      error: 'invalid_request',
      error_description: 'secret crm-key exists; rotate it to store a new value',
    });

    const r2 = reader();
    expect(await r2.current('crm-key')).toEqual({ value: VALUE('api-1'), version: 1 });
    const rotated = await call('post', '/admin/api/secrets/crm-key/rotate', writer).send({
      value: VALUE('api-2'),
      overlap_seconds: 600,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({
      name: 'crm-key',
      version: 2,
      created_at: expect.stringMatching(/Z$/),
      previous: { version: 1, valid_until: expect.stringMatching(/Z$/) },
    });
    const list = await call('get', '/admin/api/secrets', writer);
    expect(list.body.secrets).toContainEqual({
      name: 'crm-key',
      version: 2,
      created_at: rotated.body.created_at,
      previous: rotated.body.previous,
    });
    await until('the reader follows the rotation', async () => (await r2.current('crm-key')).version === 2);
    expect(await r2.current('crm-key')).toEqual({
      value: VALUE('api-2'),
      version: 2,
      previous: { value: VALUE('api-1'), version: 1 },
    });

    const unknown = await call('post', '/admin/api/secrets/nobody/rotate', writer).send({ value: VALUE('n') });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'not_found', error_description: 'no secret nobody' });
    const deleted = await call('delete', '/admin/api/secrets/crm-key', writer);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ name: 'crm-key', version: 2, versions: 2 });
    expect((await call('delete', '/admin/api/secrets/crm-key', writer)).status).toBe(404);
    await until('the reader sees the deletion', async () =>
      r2.current('crm-key').then(
        () => false,
        (e: unknown) => e instanceof SecretNotFound,
      ),
    );

    const events = await searchEvents(t.server.storage.db, { type: 'admin.operation', limit: 1000 });
    expect(events.filter((e) => e.event.details?.operation === 'secrets.set').at(-1)?.event).toMatchObject({
      client: 'secrets-writer',
      outcome: 'refused',
      reason: 'conflict',
    });
    expect(JSON.stringify([created.body, twice.body, rotated.body, list.body, deleted.body])).not.toMatch(/sk-live/);
    expect(t.logs.lines().join('\n')).not.toMatch(/sk-live/);
    expect(await stored(t.server.storage.db)).not.toMatch(/sk-live/);
  });

  it('bad input: names, bodies, values → a precise 400, nothing stored, nothing of the value logged', async () => {
    const writer = await token('secrets-writer');
    const refusals: [string, () => request.Test, string][] = [
      [
        'bad name',
        () => call('put', '/admin/api/secrets/bad%20name', writer).send({ value: VALUE('b1') }),
        'secrets.set: name: a secret name is 1–64 characters of A-Z a-z 0-9 . _ -, the first a letter or a digit',
      ],
      [
        'dot name',
        () => call('put', '/admin/api/secrets/.env', writer).send({ value: VALUE('b2') }),
        'secrets.set: name: a secret name is 1–64 characters of A-Z a-z 0-9 . _ -, the first a letter or a digit',
      ],
      ['no value', () => call('put', '/admin/api/secrets/b3', writer).send({}), 'the body is {"value": "…"}'],
      [
        'a number',
        () => call('put', '/admin/api/secrets/b4', writer).send({ value: 12345 }),
        'the body is {"value": "…"}',
      ],
      [
        'extra member',
        () => call('put', '/admin/api/secrets/b5', writer).send({ value: VALUE('b5'), overwrite: true }),
        'the body is {"value": "…"}',
      ],
      [
        'malformed JSON quoting the value',
        () =>
          call('put', '/admin/api/secrets/b6', writer)
            .set('Content-Type', 'application/json')
            .send(`{"value": ${VALUE('b6')}}`),
        'the body is not JSON',
      ],
      ['empty', () => call('put', '/admin/api/secrets/b7', writer).send({ value: '' }), 'secrets.set: value: is empty'],
      [
        'CRLF',
        () => call('put', '/admin/api/secrets/b8', writer).send({ value: `${VALUE('b8')}\r\nX-Injected: 1` }),
        'secrets.set: value: has a line break or another control character',
      ],
      [
        'too long',
        () => call('put', '/admin/api/secrets/b9', writer).send({ value: `sk-live-${'é'.repeat(4093)}` }),
        'secrets.set: value: is longer than 8192 bytes',
      ],
      [
        'overlap not a number',
        () =>
          call('post', '/admin/api/secrets/b10/rotate', writer).send({ value: VALUE('b10'), overlap_seconds: '60' }),
        'secrets.rotate: overlap_seconds: a number of seconds',
      ],
      [
        'negative overlap',
        () => call('post', '/admin/api/secrets/b11/rotate', writer).send({ value: VALUE('b11'), overlap_seconds: -1 }),
        'secrets.rotate: overlap_seconds: 0 to 2592000 seconds',
      ],
    ];
    for (const [what, send, description] of refusals) {
      const r = await send();
      expect(r.status, what).toBe(400);
      expect(r.body, what).toEqual({ error: 'invalid_request', error_description: description });
    }
    expect(await t.server.storage.db('upstream_secrets').whereRaw("name ~ '^b[0-9]+$'")).toEqual([]);
    expect(t.logs.lines().join('\n')).not.toMatch(/sk-live/);
    expect(t.logs.lines().filter((l) => l.includes('"admin_api.refused"')).length).toBeGreaterThanOrEqual(11);
  });
});

describe('secretReader: every process follows a rotation within its refresh', () => {
  it('a second reader sees a rotation made elsewhere; the values are decrypted once per version', async () => {
    const db = t.server.storage.db;
    const one = reader();
    const kek = counting(kekFrom(KEK));
    const two = reader(kek);
    expect((await cli(['secrets', 'set', 'follow'], VALUE('f1'))).code).toBe(0);
    expect((await cli(['secrets', 'set', 'still'], VALUE('s1'))).code).toBe(0);
    expect(await one.current('follow')).toEqual({ value: VALUE('f1'), version: 1 });
    expect(await two.current('follow')).toEqual({ value: VALUE('f1'), version: 1 });
    expect(await two.current('still')).toEqual({ value: VALUE('s1'), version: 1 });
    expect(kek.decrypts()).toBe(2);

    // another process rotates, with an overlap: both readers follow without being told
    expect((await cli(['secrets', 'rotate', 'follow', '--overlap', '600'], VALUE('f2'))).code).toBe(0);
    for (const r of [one, two])
      await until('the rotation reaches the reader', async () => (await r.current('follow')).version === 2);
    expect(await two.current('follow')).toEqual({
      value: VALUE('f2'),
      version: 2,
      previous: { value: VALUE('f1'), version: 1 },
    });
    // one decryption for the new version; the previous one and the unchanged secret were already held
    expect(kek.decrypts()).toBe(3);
    expect(await two.current('still')).toEqual({ value: VALUE('s1'), version: 1 });

    // deleted and set again: version 1 again, but another value, and the reader does not mix them up
    expect((await cli(['secrets', 'delete', 'still'])).code).toBe(0);
    expect((await cli(['secrets', 'set', 'still'], VALUE('s2'))).code).toBe(0);
    await until('the new version 1 reaches the reader', () =>
      two.current('still').then(
        (v) => v.value === VALUE('s2'),
        () => false, // between the two commands, a refresh may have seen no secret
      ),
    );

    await expect(two.current('never-set')).rejects.toBeInstanceOf(SecretNotFound);
    await expect(two.current('../etc')).rejects.toBeInstanceOf(SecretNotFound);
    // a name set after a reader looked for it is found at its next refresh
    expect((await cli(['secrets', 'set', 'never-set'], VALUE('late'))).code).toBe(0);
    await until('the late secret is found', async () =>
      two.current('never-set').then(
        (v) => v.value === VALUE('late'),
        () => false,
      ),
    );
    expect(await stored(db)).not.toMatch(/sk-live/);
  });

  it('the overlap: the previous version is handed out until valid_until, then it is gone', async () => {
    const db = t.server.storage.db;
    const r = reader();
    expect((await cli(['secrets', 'set', 'overlap'], VALUE('o1'))).code).toBe(0);
    expect(await r.current('overlap')).toEqual({ value: VALUE('o1'), version: 1 });
    // no overlap: the previous version is gone for new requests at once
    expect((await cli(['secrets', 'rotate', 'overlap'], VALUE('o2'))).code).toBe(0);
    await until('the rotation reaches the reader', async () => (await r.current('overlap')).version === 2);
    expect(await r.current('overlap')).toEqual({ value: VALUE('o2'), version: 2 });
    expect(await db('upstream_secrets').where({ name: 'overlap' }).select('version')).toEqual([{ version: 2 }]);

    // a short overlap: version 2 stays readable, then it is not
    const rotated = await cli(['secrets', 'rotate', 'overlap', '--overlap', '4'], VALUE('o3'));
    expect(rotated.code).toBe(0);
    const until3 = Date.parse(/until (\S+Z)/.exec(rotated.stdout)![1]!);
    const fresh = reader(); // a process starting during the overlap gets both
    expect(await fresh.current('overlap')).toEqual({
      value: VALUE('o3'),
      version: 3,
      previous: { value: VALUE('o2'), version: 2 },
    });
    await until('the previous version is gone', async () => (await fresh.current('overlap')).previous === undefined);
    expect(Date.now()).toBeGreaterThanOrEqual(until3 - 1000);
    expect(await fresh.current('overlap')).toEqual({ value: VALUE('o3'), version: 3 });
    expect(await reader().current('overlap')).toEqual({ value: VALUE('o3'), version: 3 });
    expect((await cli(['secrets', 'list'])).stdout).toMatch(/^overlap {2}version 3 {2}created \S+Z$/m);
  });
});

describe('baton keys rewrap re-encrypts the upstream secrets', () => {
  it('after a KEK rotation and rewrap, a reader with the new KEK alone decrypts them', async () => {
    const db = await freshDatabase();
    const knex = knexFactory({ client: 'pg', connection: db.url });
    try {
      const base = makeConfig({ storage: { postgres: db.url } });
      const old = writeConfig(base);
      expect((await runCli(['migrate', 'latest', '--config', old])).code).toBe(0);
      expect((await runCli(['secrets', 'set', 'wrapped', '--config', old], {}, VALUE('w1'))).code).toBe(0);
      const rotate = ['secrets', 'rotate', 'wrapped', '--overlap', '600', '--config', old];
      expect((await runCli(rotate, {}, VALUE('w2'))).code).toBe(0);

      const newKek = generateKekValue();
      const rotated = writeConfig({
        ...base,
        keys: { ...base.keys, encryption_key: newKek, previous_encryption_keys: [KEK] },
      });
      const res = await runCli(['keys', 'rewrap', '--config', rotated]);
      expect(res.stderr).toBe('');
      expect(res.stdout).toMatch(
        /, 2 gateway secret version\(s\), 0 brokered token\(s\); keys\.previous_encryption_keys can now be emptied\n$/,
      );
      const rows = await knex('upstream_secrets').select<{ jwe: string; kek_id: string }[]>('jwe', 'kek_id');
      const newId = kekFrom(newKek).id;
      expect(rows.map((r) => [decodeProtectedHeader(r.jwe).kid, r.kek_id])).toEqual([
        [newId, newId],
        [newId, newId],
      ]);
      const r = secretReader(knex, kekFrom(newKek), { refreshSeconds: 60 });
      expect(await r.current('wrapped')).toEqual({
        value: VALUE('w2'),
        version: 2,
        previous: { value: VALUE('w1'), version: 1 },
      });
      r.close();
      expect((await runCli(['keys', 'rewrap', '--config', rotated])).stdout).toMatch(
        /, 0 gateway secret version\(s\), 0 brokered token\(s\);/,
      );
    } finally {
      await knex.destroy();
      await db.drop();
    }
  });
});

describe('the embedded store: the command line through the running server', () => {
  let e: TestServer;
  let embedded: string;
  beforeAll(async () => {
    e = await startTestServer({ backend: 'embedded' });
    embedded = writeConfig({ ...e.config, logging: { level: 'warn' } });
  }, 60_000);
  afterAll(async () => {
    await e?.close();
  });

  it('set, rotate, list, delete reach the store through the admin socket; its log never has the value', async () => {
    const run = (args: string[], stdin?: string) => runCli(['--config', embedded, ...args], {}, stdin);
    expect(await run(['secrets', 'set', 'embedded-key'], `${VALUE('e1')}\n`)).toEqual({
      code: 0,
      stdout: 'created secret embedded-key version 1\n',
      stderr: '',
    });
    const r = secretReader(e.server.storage.db, kekFrom(KEK), { refreshSeconds: 0.2 });
    try {
      expect(await r.current('embedded-key')).toEqual({ value: VALUE('e1'), version: 1 });
      const rotated = await run(['secrets', 'rotate', 'embedded-key'], VALUE('e2'));
      expect(rotated.stdout).toBe(
        'rotated secret embedded-key to version 2; the previous version is no longer handed out\n',
      );
      await until('the reader follows', async () => (await r.current('embedded-key')).version === 2);
      expect(await r.current('embedded-key')).toEqual({ value: VALUE('e2'), version: 2 });
      expect((await run(['secrets', 'set', 'embedded-key'], VALUE('e3'))).stderr).toBe(
        'baton: secret embedded-key exists; rotate it to store a new value\n',
      );
      expect((await run(['secrets', 'list'])).stdout).toMatch(/^embedded-key {2}version 2 {2}created \S+Z\n$/);
      expect((await run(['secrets', 'delete', 'embedded-key'])).code).toBe(0);
    } finally {
      r.close();
    }
    const db = e.server.storage.db;
    expect((await secretEvents(db)).map((d) => [d?.action, d?.version, d?.via])).toEqual([
      ['created', 1, 'admin_socket'],
      ['rotated', 2, 'admin_socket'],
      ['deleted', 2, 'admin_socket'],
    ]);
    expect(e.logs.lines().some((l) => l.includes('"operation":"secrets.set"'))).toBe(true);
    expect(e.logs.lines().join('\n')).not.toMatch(/sk-live/);
    expect(await stored(db)).not.toMatch(/sk-live/);
  });
});
