/**
 * Every adapter the storage hands out (storage/index.ts `adapterFor`) throws OAuth errors, not the adapters'
 * own (storage/oauth-errors.ts), whatever wraps it inside (hashed ids). On the embedded store: the
 * mapping does not depend on the backend (the HTTP tests see it on every backend).
 */
import { errors } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { AlreadyConsumed } from '../src/storage/oauth-errors.ts';
import { openStorage, type Storage } from '../src/storage/index.ts';
import { BACKENDS, makeConfig } from './helpers.ts';

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

describe('every adapter the storage hands out throws OAuth errors (embedded store)', () => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const store = await BACKENDS[0]!.create();
    cleanup = store.cleanup;
    storage = await openStorage(makeConfig({ storage: store.storage }), createLogger('silent'));
    await storage.migrate('latest');
  });
  afterAll(async () => {
    await storage?.close();
    await cleanup?.();
  });

  it('an unstorable payload is invalid_request; a second consume is invalid_grant with the grant id', async () => {
    const refused = await rejection(
      storage.adapterFor('Interaction').upsert('i-1', { params: { state: 'a\u0000b' } }, 60),
    );
    expect(refused).toBeInstanceOf(errors.InvalidRequest);
    expect((refused as errors.InvalidRequest).error_description).toBe(
      'request parameters must not contain NUL characters or unpaired surrogates',
    );
    const codes = storage.adapterFor('AuthorizationCode'); // hashed ids: the wrapper is outermost
    await codes.upsert('code-1', { jti: 'code-1', grantId: 'grant-9' }, 60);
    await codes.consume('code-1');
    const again = await rejection(codes.consume('code-1'));
    expect(again).toBeInstanceOf(AlreadyConsumed);
    expect((again as AlreadyConsumed).grantId).toBe('grant-9');
    const claimed = await rejection(storage.adapterFor('IdJagReplay').claim('a\u0000b', {}, 60));
    expect((claimed as errors.InvalidRequest).error_description).toBe(
      'identifiers must not contain NUL characters or unpaired surrogates',
    );
  });
});
