/**
 * Signing keys: generated on first start, encrypted at rest under the KEK, the same in every process,
 * rotated in stages through the CLI (publish → activate → retire) with no downtime: a token signed
 * before the rotation keeps verifying until its key is retired; new tokens carry the new kid.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKekValue, kekFrom } from '../src/keys/kek.ts';
import { localIssuer } from '../src/idp/registry.ts';
import { startServer } from '../src/main.ts';
import { freshDatabase, KEK, makeConfig, memoryLogger, registerConfidentialClient, SERVICE_SECRET } from './helpers.ts';
import { runCli, startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import knexFactory from 'knex';

const COST = 'https://cost.internal.example.com';
let a: ServerProcess;
let b: ServerProcess;
let file: string;
let drop: () => Promise<void>;
let dbUrl: string;

beforeAll(async () => {
  const db = await freshDatabase();
  drop = db.drop;
  dbUrl = db.url;
  file = writeConfig({ ...makeConfig({ storage: { postgres: db.url } }), logging: { level: 'info' } });
  a = await startServerProcess(file); // first start generates the key; b must find and use it
  b = await startServerProcess(file);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await drop?.();
});

const jwks = async (s: ServerProcess) => (await request(s.url).get('/jwks').expect(200)).body as JSONWebKeySet;
const kids = async (s: ServerProcess) => (await jwks(s)).keys.map((k) => k.kid).sort();
const issue = async (s: { url: string }) =>
  (
    await request(s.url)
      .post('/token')
      .auth('cost-reporter', SERVICE_SECRET)
      .type('form')
      .send({ grant_type: 'client_credentials', resource: COST })
      .expect(200)
  ).body.access_token as string;
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe('signing keys', () => {
  it('are stored encrypted: no private key material in the database in the clear', async () => {
    const db = knexFactory({ client: 'pg', connection: dbUrl });
    const rows = await db('signing_keys').select<{ private_jwe: string; public_jwk: unknown; state: string }[]>(
      'private_jwe',
      'public_jwk',
      'state',
    );
    await db.destroy();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.state).toBe('active');
    expect(rows[0]!.private_jwe.split('.')).toHaveLength(5); // compact JWE
    expect(rows[0]!.private_jwe).not.toContain('"d"');
    expect(JSON.stringify(rows[0]!.public_jwk)).not.toContain('"d"');
  });

  it('rotate in stages across processes with no downtime', async () => {
    const [k0] = await kids(a);
    expect(await kids(b)).toEqual([k0]);
    const before = await issue(a);
    expect(kidOf(before)).toBe(k0);

    // publish: both processes serve the new key, and still sign with the old one
    const published = await runCli(['keys', 'publish', '--config', file]);
    expect(published.code).toBe(0);
    const k1 = /published (\S+);/.exec(published.stdout)?.[1];
    expect(k1).toBeTruthy();
    await until('both serve k1', async () => (await kids(a)).length === 2 && (await kids(b)).length === 2);
    expect(await kids(a)).toEqual([k0, k1].sort());
    expect(kidOf(await issue(a))).toBe(k0);
    expect(kidOf(await issue(b))).toBe(k0);

    // activating too early is refused (zero downtime needs propagation time)
    const early = await runCli(['keys', 'activate', '--config', file, '--', k1!]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/wait until it has been published/);

    const activated = await runCli(['keys', 'activate', '--force', '--config', file, '--', k1!]);
    expect(activated.code).toBe(0);
    expect(activated.stdout).toContain(`${k0} is retiring`);
    await until('both sign with k1', async () => kidOf(await issue(a)) === k1 && kidOf(await issue(b)) === k1);

    // the token signed before the rotation still verifies against every process's JWKS
    for (const s of [a, b]) {
      const { payload } = await jwtVerify(before, createLocalJWKSet(await jwks(s)), { audience: COST, typ: 'at+jwt' });
      expect(payload.client_id).toBe('cost-reporter');
    }

    // retiring too early is refused; forced, the old key leaves the JWKS and its private half is erased
    const earlyRetire = await runCli(['keys', 'retire', '--config', file, '--', k0!]);
    expect(earlyRetire.code).toBe(1);
    const retired = await runCli(['keys', 'retire', '--force', '--config', file, '--', k0!]);
    expect(retired.code).toBe(0);
    await until('both drop k0', async () => (await kids(a)).length === 1 && (await kids(b)).length === 1);
    expect(await kids(b)).toEqual([k1]);
    await expect(jwtVerify(before, createLocalJWKSet(await jwks(a)))).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });

    const list = await runCli(['keys', 'list', '--config', file]);
    expect(list.stdout).toMatch(new RegExp(`${k1}\\s+ES256\\s+active`));
    expect(list.stdout).toMatch(new RegExp(`${k0}\\s+ES256\\s+retired`));
  });

  it("a key id that begins with '-' is read after '--'; without it the usage error says so", async () => {
    // RFC 7638 thumbprints are base64url: one key in 64 has an id that begins with '-'
    const kid = '-Rq0bH6y2uO9sTAiVnTnM3Ch1bMkl3xh2e7QH8oVJ7k';
    const bare = await runCli(['keys', 'activate', kid, '--config', file]);
    expect(bare.code).toBe(64);
    expect(bare.stderr).toContain(
      `${kid} looks like a key id: put it after '--', as in: baton keys activate -- ${kid}`,
    );
    const separated = await runCli(['keys', 'activate', '--config', file, '--', kid]);
    expect(separated.code).toBe(1);
    expect(separated.stderr).toBe(`baton: no key ${kid}\n`);
  });

  it("a jti that begins with '-' (base64url too): the usage error names the command to write", async () => {
    const jti = '-TE6EJvWRs65JsGjn3DdMDZJ1ObL4kdzPtGwwIjmpm9';
    const bare = await runCli(['audit', 'trace', jti, '--config', file]);
    expect(bare.code).toBe(64);
    expect(bare.stderr).toContain(`${jti} begins with '-': put it after '--', as in: baton audit trace -- ${jti}`);
    const separated = await runCli(['audit', 'trace', '--config', file, '--', jti]);
    expect(separated.code).toBe(0);
    expect(separated.stdout).toContain(jti);
  });

  it('a process with the wrong KEK refuses to start, naming the key', async () => {
    const wrong = writeConfig({
      ...makeConfig({ storage: { postgres: dbUrl } }),
      keys: { encryption_key: KEK.replace(/^./, KEK.startsWith('A') ? 'B' : 'A') },
    });
    const res = await runCli(['start', '--config', wrong]);
    expect(res.code).toBe(78);
    expect(res.stderr).toMatch(
      /^baton: keys\.encryption_key: stored secrets are encrypted under KEK \S+, this process has KEK \S+\n$/,
    );
  });
});

describe('KEK rotation', () => {
  it('the previous KEK decrypts until `keys rewrap` re-encrypts every secret under the new one; then it can go', async () => {
    const db = await freshDatabase();
    try {
      const base = makeConfig({ storage: { postgres: db.url } });
      const newKek = generateKekValue();
      // secrets under the old KEK: the signing key, the server secrets, an account's upstream refresh token
      const first = await startServer(base, memoryLogger().log);
      const account = await first.accounts.recordLogin({
        idpId: 'local',
        idpIssuer: localIssuer('local'),
        idpSubject: 'kek-rotation-user',
        profile: {},
        groups: [],
        roles: [],
        upstreamRefreshToken: 'upstream-refresh-token-under-the-old-kek',
      });
      const token = await issue(first);
      // a registered confidential client: its secret is stored under the KEK too
      const registered = await registerConfidentialClient(first.url);
      await first.close();

      const rotatedKeys = { ...base.keys, encryption_key: newKek, previous_encryption_keys: [KEK] };
      const rotated = writeConfig({ ...base, keys: rotatedKeys });
      const newOnly = writeConfig({ ...base, keys: { ...base.keys, encryption_key: newKek } });
      // the new KEK alone cannot read what the old one encrypted
      expect((await runCli(['start', '--config', newOnly])).code).toBe(78);

      const res = await runCli(['keys', 'rewrap', '--config', rotated]);
      expect(res.stderr).toBe('');
      expect(res.stdout).toMatch(
        /^re-encrypted under KEK \S+: 1 signing key\(s\), 2 server secret\(s\), 1 upstream refresh token\(s\), 1 client secret\(s\), 0 gateway secret version\(s\), 0 brokered token\(s\);/,
      );
      const again = await runCli(['keys', 'rewrap', '--config', rotated]);
      expect(again.stdout).toMatch(
        /: 0 signing key\(s\), 0 server secret\(s\), 0 upstream refresh token\(s\), 0 client secret\(s\), 0 gateway secret version\(s\), 0 brokered token\(s\);/,
      );

      // nothing is left under the old KEK
      const knex = knexFactory({ client: 'pg', connection: db.url });
      const kids = (jwes: (string | null)[]) =>
        new Set(jwes.filter((j): j is string => !!j).map((j) => decodeProtectedHeader(j).kid));
      const newId = kekFrom(newKek).id;
      expect(kids((await knex('signing_keys').select('private_jwe')).map((r) => r.private_jwe as string))).toEqual(
        new Set([newId]),
      );
      expect(kids((await knex('server_secrets').select('jwe')).map((r) => r.jwe as string))).toEqual(new Set([newId]));
      expect(kids((await knex('accounts').select('upstream_jwe')).map((r) => r.upstream_jwe as string))).toEqual(
        new Set([newId]),
      );
      const client = await knex('oidc_payloads')
        .where({ model: 'Client', id: registered.client_id })
        .first<{ payload: Record<string, unknown> }>('payload');
      expect(client.payload.client_secret).toBeUndefined();
      expect(kids([client.payload.client_secret_jwe as string])).toEqual(new Set([newId]));
      expect(JSON.stringify(client.payload)).not.toContain(registered.client_secret);
      await knex.destroy();

      // the new KEK alone now starts: same signing key, the old token verifies, the upstream token reads back
      const after = await startServer(
        makeConfig({ ...base, keys: { ...base.keys, encryption_key: newKek } }),
        memoryLogger().log,
      );
      try {
        const jwks = (await request(after.url).get('/jwks').expect(200)).body as JSONWebKeySet;
        await jwtVerify(token, createLocalJWKSet(jwks), { audience: COST, typ: 'at+jwt' });
        expect(await after.accounts.upstreamRefreshToken(account.id)).toBe('upstream-refresh-token-under-the-old-kek');
        // the registered client still authenticates with its secret, and reads it back (RFC 7592)
        await request(after.url)
          .post('/token/introspection')
          .auth(registered.client_id, registered.client_secret)
          .type('form')
          .send({ token: 'x' })
          .expect(200);
        await request(after.url)
          .post('/token/introspection')
          .auth(registered.client_id, 'not-the-secret')
          .type('form')
          .send({ token: 'x' })
          .expect(401);
        const read = await request(after.url)
          .get(`/reg/${registered.client_id}`)
          .auth(registered.registration_access_token, { type: 'bearer' })
          .expect(200);
        expect(read.body.client_secret).toBe(registered.client_secret);
      } finally {
        await after.close();
      }
    } finally {
      await db.drop();
    }
  }, 60_000);
});
