import { describe, expect, it } from 'vitest';
import { chainDepth, cleanChain, nest } from './chain.ts';

describe('actor chain (RFC 8693 §4.1)', () => {
  it('counts the actors of a chain', () => {
    expect(chainDepth(undefined)).toBe(0);
    expect(chainDepth({ sub: 'a' })).toBe(1);
    expect(chainDepth(nest('c', nest('b', { sub: 'a' })))).toBe(3);
  });

  it('keeps only sub and act from a verified chain', () => {
    const claimed = { sub: 'b', exp: 1, aud: 'x', act: { sub: 'a', nbf: 2, act: { sub: '' } } };
    expect(cleanChain(claimed)).toEqual({ sub: 'b', act: { sub: 'a' } });
  });

  it('reads no chain from something that is not one', () => {
    for (const value of [undefined, null, 'a', 42, [], { sub: 7 }, { act: { sub: 'a' } }]) {
      expect(cleanChain(value)).toBeUndefined();
    }
  });

  it('stops reading a chain deeper than it could ever be issued', () => {
    let deep: { sub: string; act?: unknown } = { sub: 'root' };
    for (let i = 0; i < 40; i++) deep = { sub: `a${i}`, act: deep };
    expect(chainDepth(cleanChain(deep))).toBe(17);
  });

  it('puts the new actor in front', () => {
    expect(nest('svc', undefined)).toEqual({ sub: 'svc' });
    expect(nest('svc', { sub: 'agent' })).toEqual({ sub: 'svc', act: { sub: 'agent' } });
  });
});
