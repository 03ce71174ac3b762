/**
 * The adapters' own errors and the one module that maps them to OAuth errors (storage/oauth-errors.ts):
 * each storage error becomes the exact OAuth error oidc-provider renders (RFC 6749 §5.2), a store failure
 * stays a 503. Pure logic, no store (storage-adapters.test.ts checks that the storage applies the mapping).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import { AdapterError, alreadyConsumed, UnstorableValue } from '../../adapters/src/errors.ts';
import type { Adapter } from '../../adapters/src/models.ts';
import { AlreadyConsumed, oauthError, withOAuthErrors } from '../src/storage/oauth-errors.ts';

const failing = (err: Error): Adapter => {
  const reject = () => Promise.reject(err);
  return {
    upsert: reject,
    find: reject,
    findByUserCode: reject,
    findByUid: reject,
    consume: reject,
    destroy: reject,
    revokeByGrantId: reject,
    claim: reject,
  };
};
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('storage errors → OAuth errors', () => {
  it('AlreadyConsumed → invalid_grant (400), carrying the grant id and the internal reason', () => {
    const err = oauthError(alreadyConsumed('RefreshToken', 'grant-1'));
    expect(err).toBeInstanceOf(AlreadyConsumed);
    expect(err).toBeInstanceOf(errors.InvalidGrant);
    expect(err).toMatchObject({
      name: 'AlreadyConsumed',
      error: 'invalid_grant',
      error_description: 'grant request is invalid',
      error_detail: 'RefreshToken already consumed (concurrent redemption lost the race)',
      status: 400,
      statusCode: 400,
      expose: true,
      grantId: 'grant-1',
    });
    expect((oauthError(alreadyConsumed('AuthorizationCode')) as AlreadyConsumed).grantId).toBeUndefined();
  });

  it.each([
    ['payload', 'request parameters must not contain NUL characters or unpaired surrogates'],
    ['id', 'identifiers must not contain NUL characters or unpaired surrogates'],
  ] as const)('UnstorableValue (%s) → invalid_request (400) with a generic description', (part, description) => {
    const err = oauthError(new UnstorableValue('Interaction', part));
    expect(err).toBeInstanceOf(errors.InvalidRequest);
    expect(err).toMatchObject({
      error: 'invalid_request',
      error_description: description,
      status: 400,
      statusCode: 400,
      expose: true,
    });
    expect((err as { error_detail?: unknown }).error_detail).toBeUndefined();
  });

  it('AdapterError stays itself: a 503 that is not exposed, named for the metrics', () => {
    const failure = new AdapterError('Grant.find failed', {
      cause: new Error('ECONNREFUSED'),
      model: 'Grant',
      op: 'find',
    });
    expect(oauthError(failure)).toBe(failure);
    expect(failure).not.toBeInstanceOf(errors.OIDCProviderError);
    expect(failure).toMatchObject({ name: 'AdapterError', statusCode: 503, status: 503, expose: false, op: 'find' });
    const other = new Error('anything else');
    expect(oauthError(other)).toBe(other);
  });

  it('withOAuthErrors maps what every method throws, and passes results through', async () => {
    const methods = [
      (a: Adapter) => a.upsert('id', {}, 60),
      (a: Adapter) => a.find('id'),
      (a: Adapter) => a.findByUserCode('code'),
      (a: Adapter) => a.findByUid('uid'),
      (a: Adapter) => a.consume('id'),
      (a: Adapter) => a.destroy('id'),
      (a: Adapter) => a.revokeByGrantId('grant'),
      (a: Adapter) => a.claim('id', {}, 60),
    ];
    for (const call of methods) {
      const consumed = await rejection(call(withOAuthErrors(failing(alreadyConsumed('RefreshToken', 'g')))));
      expect(consumed).toBeInstanceOf(AlreadyConsumed);
      expect((consumed as AlreadyConsumed).grantId).toBe('g');
      const unstorable = await rejection(call(withOAuthErrors(failing(new UnstorableValue('Interaction', 'id')))));
      expect(unstorable).toBeInstanceOf(errors.InvalidRequest);
      const failure = new AdapterError('x failed', { cause: undefined, model: 'Session', op: 'x' });
      expect(await rejection(call(withOAuthErrors(failing(failure))))).toBe(failure);
    }
    const payload = { jti: 'id', v: 1 };
    const ok = withOAuthErrors({ ...failing(new Error('not called')), find: () => Promise.resolve(payload) });
    expect(await ok.find('id')).toBe(payload);
  });

  it('adapters/ does not depend on oidc-provider', () => {
    const dir = join(import.meta.dirname, '../../adapters/src');
    for (const file of readdirSync(dir)) {
      expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/from ['"]oidc-provider/);
    }
  });
});
