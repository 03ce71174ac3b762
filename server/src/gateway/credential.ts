/**
 * The upstream credential of a gateway: where its value comes from (`credential.secret|env|file`) and how
 * it is added to the forwarded request (`credential.header` [+ `prefix`] or `credential.query`).
 *
 * The value is read for every call (a CredentialSource): a rotated secret, a changed variable or a file
 * rewritten by a vault agent is used from the next call on, and a call in flight keeps the value it started
 * with. The value is never logged and never in an answer: errors here name the source, not the value.
 */
import type { GatewayConfig } from '../config/schema.ts';
import type { SecretLookup } from '../secrets/reader.ts';
import { CredentialError, readSource } from '../secrets/source.ts';

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

export { CredentialError, readSource };

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

/** what names a source in messages: `environment variable X`, `file F`, `secret S` */
const sourceName = (c: { secret?: string | undefined; env?: string | undefined; file?: string | undefined }) =>
  c.env !== undefined
    ? `environment variable ${c.env}`
    : c.file !== undefined
      ? `file ${c.file}`
      : `secret ${c.secret}`;

/**
 * The CredentialSource of a set of gateways: each value read at each call (readSource) and checked to be
 * one a header can carry.
 */
export function credentialSource(gateways: readonly GatewayConfig[], opts: CredentialSourceOptions = {}) {
  const byId = new Map(gateways.flatMap((g) => (g.credential ? [[g.id, g.credential] as const] : [])));
  const source: CredentialSource = async (gatewayId) => {
    const c = byId.get(gatewayId);
    if (!c) throw new CredentialError(`no gateway ${gatewayId}`);
    const stored = await readSource(c, opts);
    const value = checked(stored.value, sourceName(c));
    if (stored.previous === undefined) return { value };
    // a previous value a header cannot carry is not offered (the current one is what matters)
    try {
      return { value, previous: checked(stored.previous, `${sourceName(c)} (previous)`) };
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
