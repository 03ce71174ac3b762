/**
 * The key-encryption key (KEK): 32 bytes that encrypt every private key and server secret at rest, as a
 * compact JWE (alg `dir`, enc `A256GCM`, RFC 7516/7518 via jose). The JWE header carries the KEK id (a
 * digest prefix), so a wrong KEK is reported as such rather than as a decryption failure.
 *
 * Rotation: new secrets are always encrypted under the current KEK; the previous KEKs
 * (`keys.previous_encryption_keys`) still decrypt what they encrypted, until `baton keys rewrap`
 * (keys/rewrap.ts) has re-encrypted everything under the current one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import type { Config } from '../config/schema.ts';

export interface Kek {
  readonly id: string;
  encrypt(plaintext: string): Promise<string>;
  /** with the current KEK or a previous one, whichever the JWE names */
  decrypt(jwe: string): Promise<string>;
  /** the id of the KEK a JWE was encrypted under */
  idOf(jwe: string): string | undefined;
}

export class KekError extends Error {
  override name = 'KekError';
}

export function generateKekValue(): string {
  return randomBytes(32).toString('base64url');
}

function keyOf(value: string, path: string): { id: string; key: Buffer } {
  const key = Buffer.from(value, 'base64url');
  if (key.length !== 32) throw new KekError(`${path}: must decode to 32 bytes`);
  return { id: createHash('sha256').update(key).digest('base64url').slice(0, 12), key };
}

export function kekFrom(value: string, previous: string[] = []): Kek {
  const { id, key } = keyOf(value, 'keys.encryption_key');
  const keys = new Map([
    ...previous.map((v, i) => {
      const k = keyOf(v, `keys.previous_encryption_keys.${i}`);
      return [k.id, k.key] as const;
    }),
    [id, key] as const,
  ]);
  const idOf = (jwe: string) => {
    const { kid } = decodeProtectedHeader(jwe);
    return typeof kid === 'string' ? kid : undefined;
  };
  return {
    id,
    idOf,
    async encrypt(plaintext) {
      return new CompactEncrypt(new TextEncoder().encode(plaintext))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: id })
        .encrypt(key);
    },
    async decrypt(jwe) {
      const kid = idOf(jwe);
      const k = kid === undefined ? undefined : keys.get(kid);
      if (!k) {
        throw new KekError(
          `keys.encryption_key: stored secrets are encrypted under KEK ${String(kid)}, this process has KEK ${id}` +
            (keys.size > 1 ? ` (and previous ${[...keys.keys()].filter((k) => k !== id).join(', ')})` : ''),
        );
      }
      const { plaintext } = await compactDecrypt(jwe, k, { keyManagementAlgorithms: ['dir'] });
      return new TextDecoder().decode(plaintext);
    },
  };
}

/**
 * The KEK from config; in development mode without one, a KEK generated once into the data directory
 * (file mode 0600) so the embedded default starts with no setup and keeps its keys across restarts.
 */
export function resolveKek(config: Config): Kek {
  if (config.keys.encryption_key) return kekFrom(config.keys.encryption_key, config.keys.previous_encryption_keys);
  return kekFrom(kekValue(config));
}

/**
 * The current KEK's value (base64url): `keys.encryption_key`, or in development the one generated into the
 * data directory. For keys derived from it (RFC 5869 HKDF) that every process of a deployment shares.
 */
export function kekValue(config: Config): string {
  if (config.keys.encryption_key) return config.keys.encryption_key;
  if (config.mode !== 'development') throw new KekError('keys.encryption_key: is required in production mode');
  const file = join(resolve(config.storage.data_dir), 'kek');
  if (!existsSync(file)) writeFileSync(file, generateKekValue(), { mode: 0o600, flag: 'wx' });
  return readFileSync(file, 'utf8').trim();
}
