/**
 * The upstream credential of a gateway: where its value comes from (`credential.secret|env|file`) and how
 * it is added to the forwarded request (`credential.header` [+ `prefix`] or `credential.query`).
 *
 * The value is read for every call (a CredentialSource): a rotated secret, a changed variable or a file
 * rewritten by a vault agent is used from the next call on, and a call in flight keeps the value it started
 * with. The value is never logged and never in an answer: errors here name the source, not the value.
 */
import { readFile } from 'node:fs/promises';
import type { GatewayConfig } from '../config/schema.ts';
import type { SecretLookup } from '../secrets/reader.ts';

/**
 * A credential's value for one call, and the previous value while a rotation's overlap lasts (`baton
 * secrets rotate --overlap`): the gateway tries it once when the upstream refuses the current one.
 */
export interface Credential {
  value: string;
  previous?: string;
}

/** A gateway's upstream credential now. Rejects with CredentialError when it cannot be had. */
export type CredentialSource = (gatewayId: string) => Promise<Credential>;

/** A stored secret's current value by name, and its previous one in an overlap (the secrets store). */
export type { SecretLookup };

/** The credential could not be had (unset, unreadable, not a valid header value): the message names the source. */
export class CredentialError extends Error {
  override name = 'CredentialError';
}

/** RFC 9110 §5.5: a field value is visible ASCII, spaces and tabs; no CR, LF or NUL (header smuggling) */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]+$/;

function checked(value: string, where: string): string {
  const v = value.trim();
  if (!v) throw new CredentialError(`${where} is empty`);
  if (!FIELD_VALUE.test(v)) throw new CredentialError(`${where} holds characters a header value cannot carry`);
  return v;
}

export interface CredentialSourceOptions {
  /** `credential: { secret: NAME }`: the stored secret's value (without it, such a gateway cannot call) */
  secret?: SecretLookup;
  env?: Record<string, string | undefined>;
}

/**
 * The CredentialSource of a set of gateways: `env:` and `file:` read here at each call; `secret:` through
 * the injected lookup.
 */
export function credentialSource(gateways: readonly GatewayConfig[], opts: CredentialSourceOptions = {}) {
  const byId = new Map(gateways.flatMap((g) => (g.credential ? [[g.id, g.credential] as const] : [])));
  const env = opts.env ?? process.env;
  const source: CredentialSource = async (gatewayId) => {
    const c = byId.get(gatewayId);
    if (!c) throw new CredentialError(`no gateway ${gatewayId}`);
    if (c.env !== undefined) {
      const value = env[c.env];
      if (value === undefined) throw new CredentialError(`environment variable ${c.env} is not set`);
      return { value: checked(value, `environment variable ${c.env}`) };
    }
    if (c.file !== undefined) {
      let value: string;
      try {
        value = await readFile(c.file, 'utf8');
      } catch (err) {
        throw new CredentialError(`cannot read ${c.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      return { value: checked(value, `file ${c.file}`) };
    }
    const name = c.secret!;
    if (!opts.secret) throw new CredentialError(`secret ${name}: no secrets store is wired into this gateway`);
    let stored: Credential;
    try {
      stored = await opts.secret(name);
    } catch (err) {
      throw new CredentialError(`secret ${name}: ${(err as Error).message}`);
    }
    const value = checked(stored.value, `secret ${name}`);
    if (stored.previous === undefined) return { value };
    // a previous value a header cannot carry is not offered (the current one is what matters)
    try {
      return { value, previous: checked(stored.previous, `secret ${name} (previous)`) };
    } catch {
      return { value };
    }
  };
  return source;
}

/**
 * The upstream URL and the credential's header for one call: a header (`prefix` + value), or the value as
 * the query parameter, set with the URL API (any parameter of that name in the configured URL is replaced);
 * for a brokered upstream, `Authorization: Bearer` with the person's token.
 */
export function placeCredential(
  gateway: Pick<GatewayConfig, 'upstream' | 'credential'>,
  value: string,
): { url: string; header?: [string, string] } {
  // a brokered upstream (no shared credential): the person's access token, RFC 6750 §2.1
  if (!gateway.credential) return { url: gateway.upstream, header: ['authorization', `Bearer ${value}`] };
  const { header, prefix, query } = gateway.credential;
  if (header) return { url: gateway.upstream, header: [header.toLowerCase(), `${prefix ?? ''}${value}`] };
  const url = new URL(gateway.upstream);
  url.searchParams.set(query!, value);
  return { url: url.toString() };
}
