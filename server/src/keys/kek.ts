/**
 * The key-encryption key (KEK): 32 bytes that encrypt every private key and server secret at rest, as a
 * compact JWE (alg `dir`, enc `A256GCM`, RFC 7516/7518 via jose). The JWE header carries the KEK id (a
 * digest prefix), so a wrong KEK is reported as such rather than as a decryption failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import type { Config } from '../config/schema.ts';

export interface Kek {
  readonly id: string;
  encrypt(plaintext: string): Promise<string>;
  decrypt(jwe: string): Promise<string>;
}

export class KekError extends Error {
  override name = 'KekError';
}

export function generateKekValue(): string {
  return randomBytes(32).toString('base64url');
}

export function kekFrom(value: string): Kek {
  const key = Buffer.from(value, 'base64url');
  if (key.length !== 32) throw new KekError('keys.encryption_key: must decode to 32 bytes');
  const id = createHash('sha256').update(key).digest('base64url').slice(0, 12);
  return {
    id,
    async encrypt(plaintext) {
      return new CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: id })
        .encrypt(key);
    },
    async decrypt(jwe) {
      const { kid } = decodeProtectedHeader(jwe);
      if (kid !== id) {
        throw new KekError(
          `keys.encryption_key: stored secrets are encrypted under KEK ${String(kid)}, this process has KEK ${id}`,
        );
      }
      const { plaintext } = await compactDecrypt(jwe, key, { keyManagementAlgorithms: ['dir'] });
      return new TextDecoder().decode(plaintext);
    },
  };
}

/**
 * The KEK from config; in development mode without one, a KEK generated once into the data directory
 * (file mode 0600) so the embedded default starts with no setup and keeps its keys across restarts.
 */
export function resolveKek(config: Config): Kek {
  if (config.keys.encryption_key) return kekFrom(config.keys.encryption_key);
  if (config.mode !== 'development') throw new KekError('keys.encryption_key: is required in production mode');
  const file = join(resolve(config.storage.data_dir), 'kek');
  if (!existsSync(file)) writeFileSync(file, generateKekValue(), { mode: 0o600, flag: 'wx' });
  return kekFrom(readFileSync(file, 'utf8').trim());
}
