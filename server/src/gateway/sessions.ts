/**
 * MCP sessions bound to the person (MCP security best practices §Session Hijacking: "bind session IDs to
 * user-specific information"). Every session at the upstream is under the one shared key, so the upstream
 * cannot tell Alice's session from Bob's: the gateway hands the caller `<upstream id>.<MAC>` instead of the
 * upstream's id, the MAC (HMAC-SHA256, node:crypto) over the gateway, baton's subject of the caller and that
 * id; a session id presented by anyone else, or altered, is an unknown session (404, MCP transports
 * 2025-11-25 §Session Management: the client starts a new one). Stateless: every gateway process with the
 * same key (derived from keys.encryption_key) accepts the ids the others handed out.
 */
import { createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SessionBinding {
  /** the id the caller gets for the upstream's */
  wrap(gatewayId: string, subject: string, upstreamId: string): string;
  /** the upstream's id, when the presented one was handed to this caller by this gateway; else undefined */
  unwrap(gatewayId: string, subject: string, presented: string): string | undefined;
}

/**
 * The binding key: RFC 5869 HKDF-SHA256 of the KEK (`keys.encryption_key`, base64url), for this use only;
 * without one (development), a random key: ids then hold for this process only.
 */
export function sessionKey(kekValue: string | undefined): Buffer {
  if (!kekValue) return randomBytes(32);
  return Buffer.from(hkdfSync('sha256', Buffer.from(kekValue, 'base64url'), '', 'baton gateway session binding', 32));
}

/** How many session bindings a process remembers (each a few hundred bytes). */
const KNOWN_MAX = 10_000;

export function sessionBinding(keyBytes: Buffer): SessionBinding {
  const key = createSecretKey(keyBytes); // once: a Buffer key is imported again at every createHmac
  const mac = (gatewayId: string, subject: string, id: string) =>
    createHmac('sha256', key).update(`${gatewayId}\n${subject}\n${id}`).digest('base64url');
  // the ids handed out and checked lately (a session's every call presents the same one): a cache of MACs
  // computed, safe to lose, bounded; a presented id is only ever found in it once its MAC was checked
  const known = new Map<string, string>();
  const remember = (binding: string, value: string) => {
    if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value!);
    known.set(binding, value);
  };
  return {
    wrap(gatewayId, subject, upstreamId) {
      const binding = `${gatewayId}\n${subject}\n${upstreamId}`;
      const cached = known.get(binding);
      if (cached !== undefined) return cached;
      const wrapped = `${upstreamId}.${mac(gatewayId, subject, upstreamId)}`;
      remember(binding, wrapped);
      return wrapped;
    },
    unwrap(gatewayId, subject, presented) {
      const dot = presented.lastIndexOf('.');
      if (dot <= 0) return undefined;
      const id = presented.slice(0, dot);
      const binding = `${gatewayId}\n${subject}\n${id}`;
      if (known.get(binding) === presented) return id;
      const given = Buffer.from(presented.slice(dot + 1));
      const expected = Buffer.from(mac(gatewayId, subject, id));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      remember(binding, presented);
      return id;
    },
  };
}
