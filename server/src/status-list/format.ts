/**
 * The Status List of draft-ietf-oauth-status-list-20 (Token Status List): an array of statuses of 1, 2, 4
 * or 8 bits each, packed from the least significant bit, compressed with DEFLATE in the ZLIB format and
 * base64url-encoded as the `lst` member (§4.1, §4.2). Encoding and bounded decoding; no I/O.
 */
import { deflateSync, inflateSync } from 'node:zlib';

/** §4.1 item 1: the number of bits per Referenced Token */
export type StatusBits = 1 | 2 | 4 | 8;

/** §7.1: the registered Status Types baton uses */
export const VALID = 0x00;
export const INVALID = 0x01;

const BITS: ReadonlySet<number> = new Set([1, 2, 4, 8]);

export const isStatusBits = (n: unknown): n is StatusBits => typeof n === 'number' && BITS.has(n);

/** the largest decompressed list `decodeStatusList` accepts by default (bytes): 2^24 entries of 8 bits */
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;

/** A status array of `size` entries of `bits` bits each, all 0x00 (VALID: §13.3, unused slots look valid). */
export class StatusArray {
  readonly bits: StatusBits;
  readonly bytes: Uint8Array;

  constructor(bits: StatusBits, sizeOrBytes: number | Uint8Array) {
    if (!isStatusBits(bits)) throw new RangeError(`status list bits must be 1, 2, 4 or 8, not ${String(bits)}`);
    this.bits = bits;
    // §4.1 item 2: a byte array of size = entries * bits / 8 or greater
    this.bytes = typeof sizeOrBytes === 'number' ? new Uint8Array(Math.ceil((sizeOrBytes * bits) / 8)) : sizeOrBytes;
  }

  /** how many entries the array holds */
  get size(): number {
    return (this.bytes.length * 8) / this.bits;
  }

  /** §4.1 item 3: entry i is in byte floor(i * bits / 8), from the least significant bit */
  get(i: number): number {
    this.check(i);
    const bit = i * this.bits;
    return (this.bytes[bit >> 3]! >> (bit & 7)) & ((1 << this.bits) - 1);
  }

  set(i: number, status: number): void {
    this.check(i);
    const mask = (1 << this.bits) - 1;
    if (!Number.isInteger(status) || status < 0 || status > mask)
      throw new RangeError(`status ${status} does not fit in ${this.bits} bits`);
    const bit = i * this.bits;
    const byte = bit >> 3;
    const shift = bit & 7;
    this.bytes[byte] = (this.bytes[byte]! & ~(mask << shift)) | (status << shift);
  }

  private check(i: number): void {
    // §8.3 item 6: an index out of the list's bounds has no status
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`index ${i} is out of the status list`);
  }
}

/** §4.2: the `status_list` claim of a Status List Token */
export interface StatusListJson {
  bits: StatusBits;
  lst: string;
}

/** §4.1 item 4: DEFLATE in the ZLIB format (RFC 1950/1951), the highest level; §4.2: base64url */
export function encodeStatusList(array: StatusArray): StatusListJson {
  const compressed = deflateSync(array.bytes, { level: 9 });
  return { bits: array.bits, lst: Buffer.from(compressed).toString('base64url') };
}

/**
 * The array of a `status_list` claim (§4.2), decompressed (§8.3 item 5) with a bound: a list inflating to
 * more than `maxBytes` is refused (§11.1: a small `lst` must not exhaust the verifier's memory).
 */
export function decodeStatusList(json: unknown, maxBytes = MAX_DECODED_BYTES): StatusArray {
  const { bits, lst } = (json ?? {}) as { bits?: unknown; lst?: unknown };
  if (!isStatusBits(bits)) throw new StatusListFormatError('status_list.bits must be 1, 2, 4 or 8');
  if (typeof lst !== 'string' || !/^[A-Za-z0-9_-]+$/.test(lst))
    throw new StatusListFormatError('status_list.lst must be a base64url string');
  let bytes: Buffer;
  try {
    bytes = inflateSync(Buffer.from(lst, 'base64url'), { maxOutputLength: maxBytes });
  } catch (err) {
    const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new StatusListFormatError(
      tooLarge ? `status_list.lst inflates to more than ${maxBytes} bytes` : 'status_list.lst is not ZLIB data',
    );
  }
  return new StatusArray(bits, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

export class StatusListFormatError extends Error {
  override name = 'StatusListFormatError';
}
