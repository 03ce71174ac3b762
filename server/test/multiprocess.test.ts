/**
 * Scale-out: two `baton start` processes on one PostgreSQL (+ Redis) behave as one, on each shared store. An authorization code
 * and a refresh token are each redeemable exactly once, even when the redemptions race across the
 * processes (RFC 6749 §4.1.2, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), a DPoP proof is accepted once (RFC 9449 §11.1),
 * and both hand out distinct Token Status List slots and serve the same bits.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alreadyConsumed } from '../../adapters/src/errors.ts';
import { oauthError } from '../src/storage/oauth-errors.ts';
import { decodeStatusList } from '../src/status-list/format.ts';
import { createLogger } from '../src/logger.ts';
import type { RunningServer } from '../src/main.ts';
import type { Config } from '../src/config/schema.ts';
import { BACKENDS, SERVICE_SECRET, startTestServer, type TestServer } from './helpers.ts';
import { startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { codeForm, LOGS, seedAccount, seedCode } from './seed.ts';

/** every store several processes can share: PostgreSQL alone, and PostgreSQL + Redis */
describe.each(BACKENDS.filter((backend) => backend.name !== 'embedded'))('on $name storage', (backend) => {
  let a: ServerProcess;
  let b: ServerProcess;
  let baton: TestServer | undefined;
  let seeder: RunningServer; // an in-test instance on the same store, used only to write the seed
  let config: Config;

  beforeAll(async () => {
    baton = await startTestServer({ backend: backend.name, log: createLogger('silent') });
    seeder = baton.server;
    config = baton.config;
    const file = writeConfig({ ...config, logging: { level: 'info' } });
    [a, b] = await Promise.all([startServerProcess(file), startServerProcess(file)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await baton?.close();
  });

  function race(form: Record<string, string>, n = 12) {
    return Promise.all(
      Array.from({ length: n }, (_, i) =>
        request(i % 2 ? b.url : a.url)
          .post('/token')
          .type('form')
          .send(form),
      ),
    );
  }

  /**
   * RFC 6749 §4.1.2, OAuth 2.1 §4.3.1: the race's losers presented a code or token already used, so its grant
   * is revoked (asynchronously, right after the refusal): the winner's refresh token no longer works.
   */
  async function expectGrantRevoked(grantId: string, winnersRefreshToken: string): Promise<void> {
    for (let waited = 0; (await seeder.provider().Grant.find(grantId)) && waited < 10_000; waited += 100)
      await sleep(100);
    expect(await seeder.provider().Grant.find(grantId)).toBeUndefined();
    const refresh = await request(a.url)
      .post('/token')
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: winnersRefreshToken, client_id: 'ide-agent', resource: LOGS })
      .expect(400);
    expect(refresh.body.error).toBe('invalid_grant');
  }

  describe('two server processes on one store', () => {
    it('serve the same signing key', async () => {
      const [ja, jb] = await Promise.all([request(a.url).get('/jwks'), request(b.url).get('/jwks')]);
      expect(ja.body).toEqual(jb.body);
      expect(ja.body.keys).toHaveLength(1);
    });

    it('an authorization code redeemed concurrently on both: exactly one wins', async () => {
      const account = await seedAccount(seeder.accounts);
      const seed = await seedCode(seeder.provider(), account);
      const responses = await race(codeForm(seed));
      const won = responses.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      expect(responses.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(11);
      const claims = decodeJwt(won[0]!.body.access_token);
      expect(claims).toMatchObject({
        sub: account,
        aud: LOGS,
        client_id: 'ide-agent',
        scope: 'logs.read',
        roles: ['developer'],
      });
      expect(typeof won[0]!.body.refresh_token).toBe('string');
      await expectGrantRevoked(seed.grantId, won[0]!.body.refresh_token as string);
    });

    it('a refresh token redeemed concurrently on both: exactly one rotation wins', async () => {
      const account = await seedAccount(seeder.accounts);
      const seed = await seedCode(seeder.provider(), account);
      const first = await request(a.url).post('/token').type('form').send(codeForm(seed)).expect(200);
      const responses = await race({
        grant_type: 'refresh_token',
        refresh_token: first.body.refresh_token,
        client_id: 'ide-agent',
        resource: LOGS,
      });
      const won = responses.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      expect(won[0]!.body.refresh_token).not.toBe(first.body.refresh_token);
      expect(responses.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(11);
      await expectGrantRevoked(seed.grantId, won[0]!.body.refresh_token as string);
    });

    it('a redemption that loses the race at the atomic consume revokes the grant, as a sequential reuse does', async () => {
      // the race path itself: the adapter refused a consume (AlreadyConsumed, with the grant id), which reaches
      // oidc-provider as invalid_grant (storage/oauth-errors.ts); the HTTP races above may also end on
      // oidc-provider's sequential-reuse path, which revokes by itself
      const account = await seedAccount(seeder.accounts);
      const seed = await seedCode(seeder.provider(), account);
      const first = await request(a.url).post('/token').type('form').send(codeForm(seed)).expect(200);
      seeder
        .provider()
        .emit('grant.error', { state: {}, oidc: {} }, oauthError(alreadyConsumed('AuthorizationCode', seed.grantId)));
      await expectGrantRevoked(seed.grantId, first.body.refresh_token as string);
    });

    it('a DPoP proof replayed concurrently on both: exactly one request is accepted (RFC 9449 §11.1)', async () => {
      for (let round = 0; round < 5; round++) {
        const { privateKey, publicKey } = await generateKeyPair('ES256');
        const proof = await new SignJWT({ htm: 'POST', htu: `${config.issuer}/token`, jti: randomUUID() })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
          .setIssuedAt()
          .sign(privateKey);
        const responses = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            request(i % 2 ? b.url : a.url)
              .post('/token')
              .auth('cost-reporter', SERVICE_SECRET)
              .set('DPoP', proof)
              .type('form')
              .send({ grant_type: 'client_credentials', resource: 'https://cost.internal.example.com' }),
          ),
        );
        expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
        // RFC 9449 §5: a replayed proof is an invalid one (oidc-provider's invalid_grant corrected in the seam)
        const refused = responses.filter((r) => r.status === 400);
        expect(refused).toHaveLength(11);
        for (const r of refused)
          expect(r.body).toEqual({ error: 'invalid_dpop_proof', error_description: 'DPoP proof JWT Replay detected' });
      }
    });

    it('a code redeemed on one process is refused on the other', async () => {
      const account = await seedAccount(seeder.accounts);
      const seed = await seedCode(seeder.provider(), account);
      await request(a.url).post('/token').type('form').send(codeForm(seed)).expect(200);
      const again = await request(b.url).post('/token').type('form').send(codeForm(seed)).expect(400);
      expect(again.body.error).toBe('invalid_grant');
    });

    it('a disabled account gets no token from a code', async () => {
      const account = await seedAccount(seeder.accounts);
      const seed = await seedCode(seeder.provider(), account);
      await seeder.accounts.setDisabled(account, true);
      try {
        const res = await request(b.url).post('/token').type('form').send(codeForm(seed)).expect(400);
        expect(res.body.error).toBe('invalid_grant');
      } finally {
        await seeder.accounts.setDisabled(account, false);
      }
    });

    it('Token Status List: distinct slots from both, the same bits from both, a revocation at one seen at the other', async () => {
      const tokens = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const res = await request(i % 2 ? b.url : a.url)
            .post('/token')
            .auth('cost-reporter', SERVICE_SECRET)
            .type('form')
            .send({ grant_type: 'client_credentials', resource: 'https://cost.internal.example.com' })
            .expect(200);
          return res.body.access_token as string;
        }),
      );
      type Slot = { idx: number; uri: string };
      const slots = tokens.map((t) => (decodeJwt(t) as { status: { status_list: Slot } }).status.status_list);
      expect(new Set(slots.map((s) => `${s.uri}#${s.idx}`)).size).toBe(20);
      /** the bits list `uri` has, as process `url` serves it (draft-ietf-oauth-status-list-20 §4.2) */
      const bits = async (url: string, uri: string) => {
        const res = await request(url).get(new URL(uri).pathname).expect(200);
        return Buffer.from(decodeStatusList(decodeJwt(res.text).status_list).bytes).toString('hex');
      };
      const revoked = slots[3]!;
      await request(b.url)
        .post('/token/revocation')
        .auth('cost-reporter', SERVICE_SECRET)
        .type('form')
        .send({ token: tokens[3]! })
        .expect(200);
      await expect
        .poll(
          async () =>
            decodeStatusList(decodeJwt((await request(a.url).get(new URL(revoked.uri).pathname)).text).status_list).get(
              revoked.idx,
            ),
          { interval: 100, timeout: 10_000 },
        )
        .toBe(1);
      for (const uri of new Set(slots.map((s) => s.uri)))
        await expect
          .poll(async () => (await bits(a.url, uri)) === (await bits(b.url, uri)), { interval: 100, timeout: 10_000 })
          .toBe(true);
      const list = decodeStatusList(
        decodeJwt((await request(b.url).get(new URL(revoked.uri).pathname)).text).status_list,
      );
      for (const [i, s] of slots.entries()) if (s.uri === revoked.uri) expect(list.get(s.idx)).toBe(i === 3 ? 1 : 0);
    });
  });
});
