import { describe, expect, it } from 'vitest';
import type Provider from 'oidc-provider';
import { bareProvider, type MemoryAdapter } from './bare-provider.ts';
import { atomicReplayDetection, replayRecordId } from './atomic-replay-detection.ts';

type Unique = (iss: string, jti: string, exp: number) => Promise<boolean>;
const uniqueOf = (provider: Provider): Unique => {
  const model = provider.ReplayDetection as unknown as { unique: Unique };
  return (iss, jti, exp) => model.unique(iss, jti, exp);
};

/** holds every find of `store` until `n` of them are waiting: the requests race on one proof */
function holdFinds(store: MemoryAdapter, n: number): void {
  let release!: () => void;
  const all = new Promise<void>((resolve) => (release = resolve));
  let waiting = 0;
  store.beforeFind = async () => {
    if (++waiting === n) release();
    await all;
  };
}

const exp = () => Math.floor(Date.now() / 1000) + 60;

describe('upstream (oidc-provider without the patch)', () => {
  it('ReplayDetection.unique is find-then-save: two concurrent checks of one jti both pass', async () => {
    const { provider, store } = await bareProvider();
    const unique = uniqueOf(provider);
    holdFinds(store('ReplayDetection'), 2);
    expect(await Promise.all([unique('client', 'jti-1', exp()), unique('client', 'jti-1', exp())])).toEqual([
      true,
      true,
    ]);
    // its record id, which the patch keeps
    expect([...store('ReplayDetection').records.keys()]).toEqual([replayRecordId('client', 'jti-1')]);
    store('ReplayDetection').beforeFind = async () => {};
    expect(await unique('client', 'jti-1', exp())).toBe(false);
  });
});

describe('atomic-replay-detection (the patch)', () => {
  it('one atomic claim: of concurrent checks of one jti exactly one passes, with upstream record id and ttl', async () => {
    const { provider, store } = await bareProvider();
    const shared = store('SharedStore');
    const claims: Array<[string, unknown, number]> = [];
    const claim = shared.claim.bind(shared);
    shared.claim = async (id, payload, ttl) => (claims.push([id, payload, ttl]), claim(id, payload, ttl));
    atomicReplayDetection(provider, shared);
    const unique = uniqueOf(provider);
    const results = await Promise.all([unique('client', 'jti-2', exp()), unique('client', 'jti-2', exp())]);
    expect(results.sort()).toEqual([false, true]);
    const id = replayRecordId('client', 'jti-2');
    expect(claims.map(([i, p]) => [i, p])).toEqual([
      [id, { jti: id, iss: 'client', kind: 'ReplayDetection' }],
      [id, { jti: id, iss: 'client', kind: 'ReplayDetection' }],
    ]);
    for (const [, , ttl] of claims) expect(ttl).toBeGreaterThanOrEqual(59);
    for (const [, , ttl] of claims) expect(ttl).toBeLessThanOrEqual(60);
    // another issuer's jti of the same value is another record
    expect(await unique('other-client', 'jti-2', exp())).toBe(true);
  });
});
