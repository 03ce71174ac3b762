/**
 * The development XAA issuer's key, as data: the shipped key pair's files (config/dev/) and the members of
 * its public half. A leaf module, so that configuration validation (config/schema.ts) can refuse the key
 * outside development mode without importing the issuer itself (idp/dev-issuer.ts).
 */
import { resolve } from 'node:path';

/** The shipped public key's RFC 7638 required members (`kty`, `crv`, `x`, `y`): what its thumbprint hashes. */
export const DEV_XAA_KEY = {
  kty: 'EC',
  crv: 'P-256',
  x: 'oLH2Bymmj4EOzaNTdp-9hgf2w2sZ1-ns0yzaJlfonu8',
  y: 'W9sul-KDhhPfsZhPKHKs9STxt_5aY3lgv9Q1JKQb8Hg',
} as const;
/** its RFC 7638 thumbprint (SHA-256, base64url), also its `kid` in config/dev/xaa-issuer.jwks.json */
export const DEV_XAA_THUMBPRINT = '5QCcW3ABnirnjEA6tyON34OZv-cEfDq53VQA5Y8OSg0';

export const DEV_XAA_PRIVATE_JWK_PATH = resolve(import.meta.dirname, '../../../config/dev/xaa-issuer.private.jwk');
export const DEV_XAA_JWKS_PATH = resolve(import.meta.dirname, '../../../config/dev/xaa-issuer.jwks.json');

/**
 * Whether a JWK is the shipped development key: equal RFC 7638 §3.2 required members are an equal
 * thumbprint (the thumbprint is the SHA-256 of exactly these members), so no hash is needed to compare.
 */
export function isDevXaaKey(jwk: Record<string, unknown>): boolean {
  return (
    jwk.kty === DEV_XAA_KEY.kty && jwk.crv === DEV_XAA_KEY.crv && jwk.x === DEV_XAA_KEY.x && jwk.y === DEV_XAA_KEY.y
  );
}
