import { describe, expect, it } from 'vitest';
import { hashPassword, isValidPasswordHash, verifyPassword } from './password.ts';

describe('local password hashes', () => {
  it('hash and verify; a wrong password, a missing hash and a malformed hash fail', async () => {
    const hash = await hashPassword('correct horse', { log2N: 10, r: 8, p: 1 });
    expect(hash).toMatch(/^scrypt\$10\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(isValidPasswordHash(hash)).toBe(true);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsE', hash)).toBe(false);
    expect(await verifyPassword('correct horse', undefined)).toBe(false);
    expect(await verifyPassword('x', 'scrypt$99$1$1$AA$AA')).toBe(false);
    expect(isValidPasswordHash('scrypt$99$1$1$AA$AA')).toBe(false);
    expect(isValidPasswordHash('bcrypt$...')).toBe(false);
  });
  it('salts every hash', async () => {
    const [a, b] = await Promise.all([
      hashPassword('pw', { log2N: 10, r: 8, p: 1 }),
      hashPassword('pw', { log2N: 10, r: 8, p: 1 }),
    ]);
    expect(a).not.toBe(b);
  });
});
