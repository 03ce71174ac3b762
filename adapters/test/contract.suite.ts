/**
 * THE adapter contract (oidc-provider 9 `Adapter`, plus baton's atomic consume), one suite run against
 * every backend: real PostgreSQL, real Redis, and the embedded PGlite store (contract.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Adapter } from '../src/models.ts';
import { AlreadyConsumed, StoreError, UnstorableValue } from '../src/errors.ts';

export interface ContractBackend {
  name: string;
  open(): Promise<{ adapter(model: string): Adapter; close(): Promise<void> }>;
  /** delete what expired (backends with a TTL do nothing) */
  collect?(): Promise<number>;
}

export function adapterContract(backend: ContractBackend): void {
  describe(`adapter contract: ${backend.name}`, () => {
    let store: Awaited<ReturnType<ContractBackend['open']>>;
    beforeAll(async () => {
      store = await backend.open();
    });
    afterAll(async () => {
      await store?.close();
    });
    const id = () => randomUUID();

    it('upsert then find returns the payload; find of an unknown id is undefined', async () => {
      const a = store.adapter('Session');
      const key = id();
      const payload = {
        jti: key,
        kind: 'Session',
        accountId: 'acct-1',
        nested: { a: [1, 'two', { three: true }] },
        exp: 2e9,
      };
      await a.upsert(key, payload, 60);
      expect(await a.find(key)).toEqual(payload);
      expect(await a.find(id())).toBeUndefined();
    });

    it('upsert replaces the payload of an existing id', async () => {
      const a = store.adapter('Interaction');
      const key = id();
      await a.upsert(key, { jti: key, v: 1 }, 60);
      await a.upsert(key, { jti: key, v: 2 }, 60);
      expect(await a.find(key)).toEqual({ jti: key, v: 2 });
    });

    it('models are separate namespaces', async () => {
      const key = id();
      await store.adapter('Session').upsert(key, { jti: key, m: 'Session' }, 60);
      expect(await store.adapter('Interaction').find(key)).toBeUndefined();
    });

    it('an entry past expiresIn is gone', async () => {
      const a = store.adapter('AuthorizationCode');
      const key = id();
      await a.upsert(key, { jti: key, grantId: 'g-exp' }, 1);
      expect(await a.find(key)).toBeDefined();
      await sleep(2100);
      expect(await a.find(key)).toBeUndefined();
      if (backend.collect) expect(await backend.collect()).toBeGreaterThanOrEqual(1);
    });

    it('an entry without expiresIn does not expire', async () => {
      const a = store.adapter('Client');
      const key = id();
      await a.upsert(key, { client_id: key });
      expect(await a.find(key)).toEqual({ client_id: key });
    });

    it('findByUid finds a session by its uid', async () => {
      const a = store.adapter('Session');
      const key = id();
      const uid = id();
      await a.upsert(key, { jti: key, uid }, 60);
      expect(await a.findByUid(uid)).toEqual({ jti: key, uid });
      expect(await a.findByUid(id())).toBeUndefined();
    });

    it('findByUserCode finds a device code by its user code', async () => {
      const a = store.adapter('DeviceCode');
      const key = id();
      await a.upsert(key, { jti: key, userCode: 'ABCD-EFGH' + key.slice(0, 4) }, 60);
      expect(await a.findByUserCode('ABCD-EFGH' + key.slice(0, 4))).toMatchObject({ jti: key });
      expect(await a.findByUserCode('NOPE-NOPE')).toBeUndefined();
    });

    it('consume marks the entry consumed with a timestamp', async () => {
      const a = store.adapter('AuthorizationCode');
      const key = id();
      await a.upsert(key, { jti: key, grantId: 'g1' }, 60);
      const before = Math.floor(Date.now() / 1000);
      await a.consume(key);
      const found = await a.find(key);
      expect(found?.jti).toBe(key);
      expect(Number(found?.consumed)).toBeGreaterThanOrEqual(before - 1);
    });

    it('a second consume is refused as AlreadyConsumed (single use; invalid_grant on the wire)', async () => {
      const a = store.adapter('RefreshToken');
      const key = id();
      await a.upsert(key, { jti: key, grantId: 'grant-of-the-token' }, 60);
      await a.consume(key);
      const err = await a.consume(key).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toBeInstanceOf(AlreadyConsumed);
      expect((err as AlreadyConsumed).model).toBe('RefreshToken');
      // the refusal names the grant, so that it can be revoked (RFC 6749 §4.1.2)
      expect((err as AlreadyConsumed).grantId).toBe('grant-of-the-token');
    });

    it('concurrent consumes of one code: exactly one wins', async () => {
      const a = store.adapter('AuthorizationCode');
      const key = id();
      await a.upsert(key, { jti: key }, 60);
      const results = await Promise.allSettled(Array.from({ length: 25 }, () => a.consume(key)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(24);
      for (const r of rejected) expect(r.reason).toBeInstanceOf(AlreadyConsumed);
    });

    it('consume of an entry that no longer exists is refused', async () => {
      const err = await store
        .adapter('AuthorizationCode')
        .consume(id())
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(AlreadyConsumed);
      expect((err as AlreadyConsumed).grantId).toBeUndefined();
    });

    it('claim: the first caller gets the id, consumed at once; later and concurrent callers do not', async () => {
      const a = store.adapter('IdJagReplay');
      const key = id();
      expect(await a.claim(key, { jti: key }, 60)).toBe(true);
      expect(await a.find(key)).toMatchObject({ jti: key, consumed: expect.any(Number) as number });
      expect(await a.claim(key, { jti: key }, 60)).toBe(false);
      const other = id();
      const results = await Promise.all(Array.from({ length: 25 }, () => a.claim(other, { jti: other }, 60)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('claim of an id whose entry has expired succeeds again', async () => {
      const a = store.adapter('IdJagReplay');
      const key = id();
      expect(await a.claim(key, { jti: key }, 1)).toBe(true);
      await sleep(2100);
      expect(await a.claim(key, { jti: key }, 60)).toBe(true);
    });

    it.each([
      ['U+0000', 'a\u0000b'],
      ['an unpaired surrogate', 'a\ud800b'],
    ])(
      'claim of an id with %s: claimed once, or refused as UnstorableValue (never a store failure)',
      async (_what, raw) => {
        const a = store.adapter('IdJagReplay');
        const key = `${id()}${raw}`;
        const first = await a.claim(key, { jti: 'x' }, 60).then(
          (won) => won,
          (err: unknown) => {
            // PostgreSQL cannot hold it as itself: the id is at fault, not the store (400, not 503)
            expect(err).toBeInstanceOf(UnstorableValue);
            expect((err as UnstorableValue).part).toBe('id');
            return 'refused' as const;
          },
        );
        expect(first).toBe(backend.name === 'redis' ? true : 'refused');
        if (first === true) expect(await a.claim(key, { jti: 'x' }, 60)).toBe(false);
      },
    );

    it('destroy removes the entry (and its uid index)', async () => {
      const a = store.adapter('Session');
      const key = id();
      const uid = id();
      await a.upsert(key, { jti: key, uid }, 60);
      await a.destroy(key);
      expect(await a.find(key)).toBeUndefined();
      expect(await a.findByUid(uid)).toBeUndefined();
    });

    it('revokeByGrantId removes every entry of that grant, and only those', async () => {
      const a = store.adapter('AuthorizationCode');
      const grant = id();
      const other = id();
      const [k1, k2, k3] = [id(), id(), id()];
      await a.upsert(k1, { jti: k1, grantId: grant }, 60);
      await a.upsert(k2, { jti: k2, grantId: grant }, 120);
      await a.upsert(k3, { jti: k3, grantId: other }, 60);
      await a.revokeByGrantId(grant);
      expect(await a.find(k1)).toBeUndefined();
      expect(await a.find(k2)).toBeUndefined();
      expect(await a.find(k3)).toEqual({ jti: k3, grantId: other });
    });

    it('revokeByGrantId is per model', async () => {
      const grant = id();
      const key = id();
      await store.adapter('RefreshToken').upsert(key, { jti: key, grantId: grant }, 60);
      await store.adapter('AuthorizationCode').revokeByGrantId(grant);
      expect(await store.adapter('RefreshToken').find(key)).toEqual({ jti: key, grantId: grant });
    });

    it('a hostile key with U+0000 is simply unknown: no store error', async () => {
      const a = store.adapter('AuthorizationCode');
      const key = `${id()}\u0000`;
      expect(await a.find(key)).toBeUndefined();
      expect(await a.findByUid(key)).toBeUndefined();
      expect(await a.findByUserCode(key)).toBeUndefined();
      await a.destroy(key);
      await a.revokeByGrantId(key);
    });

    it.each([
      ['U+0000', 'a\u0000b'],
      ['an unpaired surrogate', 'a\ud800b'],
    ])('a payload with %s (from request parameters) is stored, or refused as UnstorableValue', async (_what, state) => {
      const a = store.adapter('Interaction');
      const key = id();
      const payload = { jti: key, params: { state, text: 'a literal \\u0000 is fine' } };
      const stored = await a.upsert(key, payload, 60).then(
        () => true,
        (err: unknown) => {
          // PostgreSQL cannot hold these: the request is at fault, not the store (400, not 503)
          expect(err).toBeInstanceOf(UnstorableValue);
          expect((err as UnstorableValue).part).toBe('payload');
          return false;
        },
      );
      expect(await a.find(key)).toEqual(stored ? payload : undefined);
      expect(stored).toBe(backend.name === 'redis');
      const literal = { jti: key, params: { text: 'a literal \\u0000 is fine', pair: '\ud83d\ude00' } };
      await a.upsert(key, literal, 60);
      expect(await a.find(key)).toEqual(literal);
    });
  });
}
