/**
 * The SCIM client's credential (RFC 7644 §2: the SCIM protocol leaves authentication to HTTP; Entra ID and
 * Okta send a long-lived bearer token): `Authorization: Bearer <token>` (RFC 6750 §2.1), the token of the
 * IdP whose endpoint is asked (`identity_providers[].scim.token`), compared in constant time over SHA-256
 * digests (equal lengths, so timingSafeEqual learns nothing from the length of what was sent).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { ScimRefusal } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The check of one IdP's token: resolves when the request carries it, else throws the 401 to send. */
export function bearerCheck(token: string): (ctx: Koa.Context) => void {
  const expected = digest(token);
  return (ctx) => {
    const header = ctx.get('Authorization');
    // RFC 7235 §2.1: the scheme is case-insensitive; RFC 6750 §3.1: no error code without a Bearer token
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match)
      throw new ScimRefusal(401, undefined, 'a bearer token is required', {
        logDetail: header ? 'not a Bearer authorization' : 'no token',
        challenge: 'bare',
      });
    if (!timingSafeEqual(digest(match[1]!), expected))
      throw new ScimRefusal(401, undefined, 'the bearer token is not valid here', {
        logDetail: 'wrong token',
        challenge: 'invalid_token',
      });
  };
}
