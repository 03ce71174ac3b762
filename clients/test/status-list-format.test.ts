/**
 * The Status List format (draft-ietf-oauth-status-list-20 §4.1, §4.2) against the draft's own examples and
 * test vectors (§11.1: "Implementations SHOULD verify correctness using the test vectors"): the 1-bit and
 * 2-bit examples of §4.1 (bytes and compressed hex), their JSON encodings of §4.2 (also the `lst` of the
 * example Status List Token of §5.1), the 1/2/4/8-bit vectors of Appendix C; and the decoder's refusals.
 */
import { readFileSync } from 'node:fs';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeStatusList,
  encodeStatusList,
  StatusList,
  StatusListFormatError,
  type StatusBits,
} from '../src/status-list.ts';

interface Vector {
  section: string;
  bits: StatusBits;
  size: number;
  statuses: Record<string, number>;
  lst: string;
}
const { vectors } = JSON.parse(readFileSync(new URL('fixtures/status-list-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Vector[];
};

const statusesOf = (list: StatusList) => Array.from({ length: list.size }, (_, i) => list.statusAt(i));

describe('the examples of §4.1 and §4.2', () => {
  // §4.1: 16 entries of 1 bit
  const ONE_BIT = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
  // §4.1: 12 entries of 2 bits (with SUSPENDED)
  const TWO_BITS = [0b01, 0b10, 0b00, 0b11, 0b00, 0b01, 0b00, 0b01, 0b01, 0b10, 0b11, 0b11];

  it('1 bit: the bytes 0xB9 0xA3, compressed 78dadbb918000217015d, lst eNrbuRgAAhcBXQ', () => {
    const claim = encodeStatusList(ONE_BIT, 1);
    expect(claim).toEqual({ bits: 1, lst: 'eNrbuRgAAhcBXQ' });
    expect(Buffer.from(claim.lst, 'base64url').toString('hex')).toBe('78dadbb918000217015d');
    const list = decodeStatusList({ bits: 1, lst: 'eNrbuRgAAhcBXQ' });
    expect([...list.bytes]).toEqual([0xb9, 0xa3]);
    expect(list.size).toBe(16);
    expect(statusesOf(list)).toEqual(ONE_BIT);
  });

  it('2 bits: the bytes 0xC9 0x44 0xF9, compressed 78da3be9f2130003df0207, lst eNo76fITAAPfAgc', () => {
    const claim = encodeStatusList(TWO_BITS, 2);
    expect(claim).toEqual({ bits: 2, lst: 'eNo76fITAAPfAgc' });
    expect(Buffer.from(claim.lst, 'base64url').toString('hex')).toBe('78da3be9f2130003df0207');
    const list = decodeStatusList({ bits: 2, lst: 'eNo76fITAAPfAgc' });
    expect([...list.bytes]).toEqual([0xc9, 0x44, 0xf9]);
    expect(statusesOf(list)).toEqual(TWO_BITS);
  });

  it('the status_list of the example Status List Token of §5.1', () => {
    // {"exp":2291720170,"iat":1686920170,"status_list":{"bits":1,"lst":"eNrbuRgAAhcBXQ"},"sub":…,"ttl":43200}
    const list = decodeStatusList({ bits: 1, lst: 'eNrbuRgAAhcBXQ' });
    expect(list.statusAt(0)).toBe(1);
    expect(list.statusAt(1)).toBe(0);
    expect(list.statusAt(15)).toBe(1);
    expect(list.statusAt(16)).toBeUndefined(); // §8.3 step 6: out of range
    expect(list.statusAt(-1)).toBeUndefined();
    expect(list.statusAt(1.5)).toBeUndefined();
  });
});

describe('the test vectors of Appendix C', () => {
  it.each(vectors.map((v) => [`${v.section}, ${v.bits} bit(s)`, v] as const))('%s', (_name, vector) => {
    const list = decodeStatusList({ bits: vector.bits, lst: vector.lst });
    expect(list.bits).toBe(vector.bits);
    expect(list.size).toBe(vector.size);
    const expected = new Uint8Array(vector.size);
    for (const [idx, value] of Object.entries(vector.statuses)) expected[Number(idx)] = value;
    const found = Uint8Array.from(statusesOf(list) as number[]);
    expect(Buffer.compare(found, expected)).toBe(0);
    // the encoder agrees: what it produces decodes to the same byte array
    const again = decodeStatusList(encodeStatusList(expected, vector.bits));
    expect(Buffer.compare(again.bytes, list.bytes)).toBe(0);
  });
});

describe('what the decoder refuses', () => {
  const lst = (bytes: Uint8Array) => deflateSync(bytes).toString('base64url');

  it.each([
    ['bits 3', { bits: 3, lst: 'eNrbuRgAAhcBXQ' }, '"bits" must be 1, 2, 4 or 8 (§4.2)'],
    ['bits as a string', { bits: '1', lst: 'eNrbuRgAAhcBXQ' }, '"bits" must be 1, 2, 4 or 8 (§4.2)'],
    ['no claim', undefined, '"bits" must be 1, 2, 4 or 8 (§4.2)'],
    ['lst missing', { bits: 1 }, '"lst" must be a base64url string (§4.2)'],
    ['lst in base64 with padding', { bits: 1, lst: 'eNrbuRgAAhcBXQ==' }, '"lst" must be a base64url string (§4.2)'],
    ['lst in base64 (+/)', { bits: 1, lst: 'eNr+uRgA/hcBXQ' }, '"lst" must be a base64url string (§4.2)'],
    [
      'raw DEFLATE without the ZLIB format',
      { bits: 1, lst: deflateRawSync(Buffer.from([0xb9, 0xa3])).toString('base64url') },
      '"lst" is not DEFLATE data in the ZLIB format (§4.1 step 4)',
    ],
    [
      'uncompressed bytes',
      { bits: 1, lst: Buffer.from([0xb9, 0xa3]).toString('base64url') },
      '"lst" is not DEFLATE data in the ZLIB format (§4.1 step 4)',
    ],
  ])('%s', (_name, claim, message) => {
    expect(() => decodeStatusList(claim)).toThrow(new StatusListFormatError(message));
  });

  it('a list that inflates beyond the bound (a zip bomb): refused without inflating it all', () => {
    const bomb = lst(new Uint8Array(64 * 1024 * 1024)); // 64 MiB of zeros: some 64 KiB compressed
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decodeStatusList({ bits: 1, lst: bomb })).toThrow(
      new StatusListFormatError(`"lst" inflates to more than ${4 * 1024 * 1024} bytes`),
    );
    expect(() => decodeStatusList({ bits: 1, lst: lst(new Uint8Array(1025)) }, 1024)).toThrow(
      new StatusListFormatError('"lst" inflates to more than 1024 bytes'),
    );
    expect(decodeStatusList({ bits: 1, lst: lst(new Uint8Array(1024)) }, 1024).size).toBe(8192);
  });

  it('the encoder refuses a status that does not fit the bits (§7)', () => {
    expect(() => encodeStatusList([0, 2], 1)).toThrow(new RangeError('status 2 at 1 does not fit in 1 bits (§7)'));
    expect(() => encodeStatusList([256], 8)).toThrow(RangeError);
    expect([...decodeStatusList(encodeStatusList([255], 8)).bytes]).toEqual([255]);
  });
});
