/**
 * Password hashes for the local directory: scrypt (RFC 7914) from node:crypto, stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`. Verification is constant-time, and an unknown
 * user costs the same as a wrong password (no user enumeration by timing).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) =>
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );

const DEFAULTS = { log2N: 15, r: 8, p: 1 }; // OWASP password storage cheat sheet minimums for scrypt
const KEYLEN = 32;
const MAXMEM = 128 * 1024 * 1024;

export async function hashPassword(password: string, params = DEFAULTS): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N: 2 ** params.log2N, r: params.r, p: params.p, maxmem: MAXMEM });
  return ['scrypt', params.log2N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parse(hash: string): Parsed | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [log2N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![log2N, r, p].every(Number.isInteger) || log2N < 10 || log2N > 20 || r < 1 || r > 32 || p < 1 || p > 16) {
    return undefined;
  }
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 16 || key.length < 16) return undefined;
  return { N: 2 ** log2N, r, p, salt, key };
}

export function isValidPasswordHash(hash: string): boolean {
  return parse(hash) !== undefined;
}

// a fixed hash to verify against when the user does not exist, so both paths cost one scrypt
const DUMMY = parse('scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')!;

export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parsed = (hash && parse(hash)) || DUMMY;
  const key = await scrypt(password, parsed.salt, parsed.key.length, {
    N: parsed.N,
    r: parsed.r,
    p: parsed.p,
    maxmem: MAXMEM,
  });
  return timingSafeEqual(key, parsed.key) && parsed !== DUMMY;
}
