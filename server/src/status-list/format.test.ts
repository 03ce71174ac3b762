/**
 * The Status List format against draft-ietf-oauth-status-list-20's own examples: §4.1 (the byte arrays and
 * their compressed hex), §4.2 (their `lst`), §5.1 (the example token's `lst`) and Appendix C (the 1/2/4/8-bit
 * test vectors, 2^20 entries each, copied into test-vectors.json: bits, the statuses set, the `lst`).
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeStatusList, encodeStatusList, StatusArray, StatusListFormatError, type StatusBits } from './format.ts';
import vectors from './test-vectors.json' with { type: 'json' };

const hex = (lst: string) => Buffer.from(lst, 'base64url').toString('hex');

describe('status list format (draft-ietf-oauth-status-list-20)', () => {
  it('§4.1: 16 entries of 1 bit are the bytes 0xB9 0xA3, compressed 78dadbb918000217015d (§4.2, §5.1 lst)', () => {
    const a = new StatusArray(1, 16);
    [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1].forEach((s, i) => a.set(i, s));
    expect([...a.bytes]).toEqual([0xb9, 0xa3]);
    const json = encodeStatusList(a);
    expect(json).toEqual({ bits: 1, lst: 'eNrbuRgAAhcBXQ' });
    expect(hex(json.lst)).toBe('78dadbb918000217015d');
    const back = decodeStatusList({ bits: 1, lst: 'eNrbuRgAAhcBXQ' });
    expect([...back.bytes]).toEqual([0xb9, 0xa3]);
    expect(back.get(0)).toBe(1);
    expect(back.get(1)).toBe(0);
    expect(back.get(15)).toBe(1);
  });

  it('§4.1: 12 entries of 2 bits are 0xC9 0x44 0xF9, compressed 78da3be9f2130003df0207 (§4.2 lst)', () => {
    const a = new StatusArray(2, 12);
    [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3].forEach((s, i) => a.set(i, s));
    expect([...a.bytes]).toEqual([0xc9, 0x44, 0xf9]);
    expect(encodeStatusList(a)).toEqual({ bits: 2, lst: 'eNo76fITAAPfAgc' });
    expect(hex('eNo76fITAAPfAgc')).toBe('78da3be9f2130003df0207');
    expect(decodeStatusList({ bits: 2, lst: 'eNo76fITAAPfAgc' }).get(3)).toBe(3);
  });

  for (const v of vectors as unknown as {
    bits: StatusBits;
    size: number;
    statuses: Record<string, number>;
    lst: string;
  }[]) {
    it(`Appendix C: the ${v.bits}-bit vector decodes to its statuses, and ours inflates to the same array`, () => {
      const decoded = decodeStatusList({ bits: v.bits, lst: v.lst });
      expect(decoded.size).toBe(v.size);
      const set = new Map(Object.entries(v.statuses).map(([i, s]) => [Number(i), s]));
      for (let i = 0; i < decoded.size; i++) {
        if (decoded.get(i) !== (set.get(i) ?? 0))
          expect({ i, status: decoded.get(i) }).toEqual({ i, status: set.get(i) ?? 0 });
      }
      const ours = new StatusArray(v.bits, v.size);
      for (const [i, s] of set) ours.set(i, s);
      const encoded = encodeStatusList(ours);
      expect(encoded.bits).toBe(v.bits);
      // DEFLATE output may differ between zlib builds; the array it carries may not
      expect(Buffer.compare(inflateSync(Buffer.from(encoded.lst, 'base64url')), Buffer.from(decoded.bytes))).toBe(0);
      if (v.bits === 2 || v.bits === 4) expect(encoded.lst).toBe(v.lst); // node's zlib gives the draft's bytes
    });
  }

  it('refuses an index out of the list (§8.3 item 6) and a status wider than bits', () => {
    const a = new StatusArray(1, 8);
    expect(() => a.get(8)).toThrow(RangeError);
    expect(() => a.get(-1)).toThrow(RangeError);
    expect(() => a.set(0, 2)).toThrow(RangeError);
    expect(() => new StatusArray(3 as StatusBits, 8)).toThrow(RangeError);
  });

  it('decoding is bounded: a list inflating past the limit, bad bits, bad base64url or non-ZLIB data is refused', () => {
    const big = encodeStatusList(new StatusArray(8, 1 << 20)); // 1 MiB of zeros, a kilobyte compressed
    expect(Buffer.from(big.lst, 'base64url').length).toBeLessThan(2048);
    expect(() => decodeStatusList(big, 1 << 19)).toThrow(/inflates to more than 524288 bytes/);
    expect(decodeStatusList(big, 1 << 20).size).toBe(1 << 20);
    expect(() => decodeStatusList({ bits: 3, lst: big.lst })).toThrow(StatusListFormatError);
    expect(() => decodeStatusList({ bits: 1, lst: 'not base64url!' })).toThrow(/base64url/);
    expect(() => decodeStatusList({ bits: 1, lst: 'AAAA' })).toThrow(/not ZLIB data/);
    expect(() => decodeStatusList(null)).toThrow(StatusListFormatError);
  });
});
