/**
 * The admin console's server-side state, in the shared store (Redis when configured, else PostgreSQL: every
 * process sees it, and it is safe to lose: an admin signs in again):
 *
 *   AdminConsoleLogin    a sign-in under way: the PKCE verifier and `state` of its authorization request
 *                        (RFC 7636 §4.1, RFC 6749 §10.12), where to return; single use, 10 minutes
 *   AdminConsoleSession  a signed-in admin: the admin API's access token, its expiry, the CSRF token of the
 *                        console's forms, who it is; until the token expires
 *
 * The browser holds only random ids (cookies); the store keys each record by the id's SHA-256, so a reader
 * of the store cannot take over a browser's session by its key.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Adapter } from '../../../../adapters/src/models.ts';

export const LOGIN_TTL = 600;

export interface PendingLogin {
  state: string;
  verifier: string;
  /** a console path to land on after the sign-in (checked to be one) */
  return_to: string;
}

export interface ConsoleSession {
  token: string;
  /** the token's expiry, seconds since the epoch */
  exp: number;
  csrf: string;
  /** baton's account id (the token's `sub`) */
  account: string;
  name: string;
  scope: string[];
}

const keyOf = (id: string) => createHash('sha256').update(id).digest('base64url');
export const newId = () => randomBytes(32).toString('base64url');
/** whether a cookie's value has the shape of an id newId made (anything else is not looked up) */
export const isId = (value: string | undefined): value is string =>
  value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value);

/** the same bytes, in constant time (a CSRF token) */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ConsoleStore {
  readonly #logins: Adapter;
  readonly #sessions: Adapter;

  constructor(logins: Adapter, sessions: Adapter) {
    this.#logins = logins;
    this.#sessions = sessions;
  }

  async startLogin(login: PendingLogin): Promise<string> {
    const id = newId();
    await this.#logins.upsert(keyOf(id), { ...login }, LOGIN_TTL);
    return id;
  }

  /** The sign-in under way for this id, once: a second callback with it finds nothing. */
  async takeLogin(id: string): Promise<PendingLogin | undefined> {
    const key = keyOf(id);
    const found = (await this.#logins.find(key)) as (PendingLogin & { consumed?: unknown }) | undefined;
    if (!found || found.consumed) return undefined;
    try {
      await this.#logins.consume(key); // single use, across processes
    } catch {
      return undefined;
    }
    return { state: found.state, verifier: found.verifier, return_to: found.return_to };
  }

  async create(session: ConsoleSession): Promise<string> {
    const id = newId();
    const ttl = Math.max(1, session.exp - Math.floor(Date.now() / 1000));
    await this.#sessions.upsert(keyOf(id), { ...session }, ttl);
    return id;
  }

  async find(id: string): Promise<ConsoleSession | undefined> {
    return (await this.#sessions.find(keyOf(id))) as ConsoleSession | undefined;
  }

  async end(id: string): Promise<void> {
    await this.#sessions.destroy(keyOf(id));
  }
}
