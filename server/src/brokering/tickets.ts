/**
 * Connect tickets (issue #20): the link a gateway hands an agent when the person has not connected a
 * brokered upstream yet, `${issuer}/connect/<gateway>?ticket=…`. The ticket names the baton account the call
 * was made for, the gateway, and when it expires (10 minutes), under an HMAC-SHA256 keyed by RFC 5869 HKDF of
 * the KEK (every gateway and server process of a deployment shares it). It is not a credential: the connect
 * page still signs the person in at baton and goes on only when that is the ticket's account (MCP
 * elicitation §URL mode: the server must verify that the user who opens the URL is the one it was made for;
 * otherwise one person could link their baton account to another's upstream account).
 */
import { createHmac, createSecretKey, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';

export const TICKET_SECONDS = 600;

export interface Ticket {
  account: string;
  gateway: string;
  /** seconds since the epoch */
  exp: number;
}

export interface Tickets {
  issue(account: string, gateway: string, now?: number): string;
  /** the ticket's content, or undefined when it is altered, malformed or expired */
  open(ticket: string, now?: number): Ticket | undefined;
}

/** The tickets of a deployment: keyed from the KEK's value (keys/kek.ts kekValue). */
export function connectTickets(kekValue: string): Tickets {
  const key: KeyObject = createSecretKey(
    Buffer.from(hkdfSync('sha256', Buffer.from(kekValue, 'base64url'), '', 'baton connect ticket', 32)),
  );
  const mac = (body: string) => createHmac('sha256', key).update(body).digest('base64url');
  return {
    issue(account, gateway, now = Date.now()) {
      const body = Buffer.from(
        JSON.stringify({ a: account, g: gateway, e: Math.floor(now / 1000) + TICKET_SECONDS }),
      ).toString('base64url');
      return `${body}.${mac(body)}`;
    },
    open(ticket, now = Date.now()) {
      if (ticket.length > 2048) return undefined;
      const [body, given, extra] = ticket.split('.');
      if (!body || !given || extra !== undefined) return undefined;
      const a = Buffer.from(given);
      const b = Buffer.from(mac(body));
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      let content: { a?: unknown; g?: unknown; e?: unknown };
      try {
        content = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof content;
      } catch {
        return undefined;
      }
      const { a: account, g: gateway, e: exp } = content;
      if (typeof account !== 'string' || typeof gateway !== 'string' || typeof exp !== 'number') return undefined;
      if (exp * 1000 <= now) return undefined;
      return { account, gateway, exp };
    },
  };
}
