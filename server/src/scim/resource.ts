/**
 * The SCIM User (RFC 7643 §4.1, with the Enterprise User extension of §4.3, whose attributes Entra ID's
 * default mappings write) as baton keeps it, through scimmy's User schema: what a request carries is coerced
 * by it (types, required `userName`, the schemas it names; unknown attributes dropped), and kept as the IdP
 * wrote it, so that a GET shows the IdP what it wrote (an IdP that reads back something else writes again),
 * except `password` (never kept), `groups` (read-only, §4.1.2: baton serves no Groups), `active` (the
 * account's own state), `id`, `meta` and `schemas`. The account's profile is `emails` (the primary) and
 * `displayName`; what baton answers is coerced by the schema too (meta, location).
 * Also: the list query (a filter baton can answer, RFC 7644 §3.4.2.2; paging, §3.4.2.4) and Entra ID's
 * string booleans.
 */
import SCIMMY from 'scimmy';
import { ScimRefusal } from './errors.ts';

/** what baton keeps of a User (the account's `active` is not kept here: it is the account's own state) */
export interface StoredUser {
  userName: string;
  externalId?: string;
  name?: Record<string, string>;
  displayName?: string;
  emails?: { value: string; type?: string; primary?: boolean; display?: string }[];
  /** the other attributes of the User schema and its Enterprise extension, as the IdP wrote them */
  [attribute: string]: unknown;
}

export interface IncomingUser extends StoredUser {
  active?: boolean;
}

/** what is not kept of a coerced User */
const NOT_KEPT = new Set(['password', 'groups', 'active', 'id', 'meta', 'schemas']);
const USER_SCHEMA = SCIMMY.Schemas.User.id;
const ENTERPRISE = SCIMMY.Schemas.EnterpriseUser.id;
// once per process (scimmy's schemas are its own singletons; extending again changes nothing)
SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false);
/** the longest text baton keeps in one attribute; `userName` and `externalId` are indexed: shorter */
const MAX_TEXT = 8192;
const MAX_INDEXED = 256;

/** PostgreSQL text holds neither U+0000 nor an unpaired surrogate; no control characters in a name */
export function storable(value: unknown, path: string): void {
  if (typeof value === 'string') {
    const max = path === 'userName' || path === 'externalId' ? MAX_INDEXED : MAX_TEXT;
    // eslint-disable-next-line no-control-regex -- the point is to refuse them
    if (!value.isWellFormed() || /[\u0000-\u001f\u007f]/.test(value) || value.length > max)
      throw new ScimRefusal(400, 'invalidValue', `${path} must be at most ${max} characters, no control characters`);
  } else if (Array.isArray(value)) value.forEach((v, i) => storable(v, `${path}[${i}]`));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) storable(v, path ? `${path}.${k}` : k);
}

/** scimmy's User schema, inbound: a TypeError of its coercion is RFC 7644 §3.12 invalidValue */
function coerceIn(body: unknown): SCIMMY.Schemas.User {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ScimRefusal(400, 'invalidSyntax', 'the body must be a SCIM User object');
  try {
    return new SCIMMY.Schemas.User(body, 'in');
  } catch (err) {
    if (err instanceof SCIMMY.Types.Error) throw err;
    throw new ScimRefusal(400, 'invalidValue', (err as Error).message);
  }
}

/** The attributes baton keeps of a User a request carries (POST, PUT), checked. */
export function incomingUser(body: unknown): IncomingUser {
  return keep(coerceIn(normaliseActive(body)));
}

/** The kept attributes of a coerced User (a request's, or a PATCH's result). */
export function keep(user: SCIMMY.Schemas.User): IncomingUser {
  // plain JSON values (scimmy's are its own objects)
  const source = JSON.parse(JSON.stringify(user)) as Record<string, unknown>;
  const kept = Object.fromEntries(Object.entries(source).filter(([k]) => !NOT_KEPT.has(k)));
  storable(kept, '');
  const active = source.active;
  return { ...(kept as unknown as StoredUser), ...(typeof active === 'boolean' ? { active } : {}) };
}

export interface UserRow {
  id: string;
  resource: StoredUser;
  active: boolean;
  created: Date;
  lastModified: Date;
}

/** A User as answered (RFC 7643 §3.1 meta; `location` under this IdP's SCIM base). */
export function outgoingUser(row: UserRow, usersUrl: string): SCIMMY.Schemas.User {
  const { id, resource, active, created, lastModified } = row;
  return new SCIMMY.Schemas.User(
    { ...resource, id, active, schemas: schemasOf(resource), meta: { resourceType: 'User', created, lastModified } },
    'out',
    usersUrl,
  );
}

/** The User as the source a PatchOp applies to (RFC 7644 §3.5.2). */
export const patchSource = (row: UserRow) =>
  new SCIMMY.Schemas.User({ ...row.resource, id: row.id, active: row.active, schemas: schemasOf(row.resource) }, 'out');

/** RFC 7643 §3: the schemas a User's attributes come from */
const schemasOf = (resource: StoredUser) => [USER_SCHEMA, ...(ENTERPRISE in resource ? [ENTERPRISE] : [])];

const boolOf = (v: unknown): unknown =>
  typeof v === 'string' && /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : v;

/**
 * Entra ID sends `active` as the string "True"/"False" (its documented SCIM compliance issue, fixed only
 * behind the `aadOptscim062020` flag), where RFC 7643 §4.1.1 makes it a boolean: those two strings are
 * read as the booleans they mean, in a User body and in a PatchOp's operations (with `path` "active", or
 * a value object with `active`). Any other value is left for scimmy to refuse.
 */
export function normaliseActive<T>(body: T): T {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = body as Record<string, unknown>;
  if ('active' in b) return { ...b, active: boolOf(b.active) } as T;
  if (!Array.isArray(b.Operations)) return body;
  const ops = (b.Operations as unknown[]).map((op) => {
    if (!op || typeof op !== 'object' || Array.isArray(op)) return op;
    const o = op as Record<string, unknown>;
    if (typeof o.path === 'string' && o.path.toLowerCase() === 'active') return { ...o, value: boolOf(o.value) };
    if (o.path === undefined && o.value && typeof o.value === 'object' && 'active' in o.value)
      return { ...o, value: { ...o.value, active: boolOf(o.value.active) } };
    return o;
  });
  return { ...b, Operations: ops } as T;
}

/** the attributes a filter may compare (RFC 7644 §3.4.2.2), as baton can look them up */
export type Lookup = { userName: string } | { externalId: string } | { id: string } | undefined;

const FILTERABLE: Record<string, 'userName' | 'externalId' | 'id'> = {
  username: 'userName',
  externalid: 'externalId',
  id: 'id',
};

/**
 * A list request's filter (RFC 7644 §3.4.2.2), parsed by scimmy (a malformed one: 400 invalidFilter): baton
 * answers `userName eq "…"`, `externalId eq "…"` and `id eq "…"` (what Entra ID and Okta ask), the
 * attribute names case-insensitive and optionally with the User schema's URN (RFC 7644 §3.10); any other
 * comparison or combination is 400 invalidFilter ("not supported", §3.12).
 */
export function lookupOf(filter: string | undefined): Lookup {
  if (filter === undefined) return undefined;
  const parsed = new SCIMMY.Types.Filter(filter);
  const unsupported = () =>
    new ScimRefusal(400, 'invalidFilter', 'only userName eq, externalId eq and id eq filters are supported');
  if (parsed.length !== 1) throw unsupported();
  const entries = Object.entries(parsed[0] as Record<string, unknown>);
  if (entries.length !== 1) throw unsupported();
  const [name, comparison] = entries[0]!;
  const attribute = FILTERABLE[name.replace(`${USER_SCHEMA}:`, '').toLowerCase()];
  if (!attribute || !Array.isArray(comparison) || comparison.length !== 2 || comparison[0] !== 'eq')
    throw unsupported();
  if (typeof comparison[1] !== 'string')
    throw new ScimRefusal(400, 'invalidFilter', `${attribute} is compared with a string`);
  try {
    storable(comparison[1], attribute);
  } catch {
    throw new ScimRefusal(400, 'invalidFilter', `${attribute} is compared with a value no User has`);
  }
  return { [attribute]: comparison[1] } as Lookup;
}

/** a User's id is its account's (accounts/store.ts accountIdFor): anything else names no User */
export const isUserId = (id: string) => /^u_[A-Za-z0-9_-]{24}$/.test(id);

/** the most Users one list answer holds (ServiceProviderConfig filter.maxResults) */
export const MAX_RESULTS = 100;

/** RFC 7644 §3.4.2.4: startIndex (1-based, less than 1 is 1) and count (negative is 0, at most MAX_RESULTS) */
export function pagingOf(query: Record<string, unknown>): { startIndex: number; count: number } {
  const int = (name: string, fallback: number) => {
    const v = query[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !/^-?\d{1,9}$/.test(v))
      throw new ScimRefusal(400, 'invalidValue', `${name} must be an integer`);
    return Number(v);
  };
  return {
    startIndex: Math.max(1, int('startIndex', 1)),
    count: Math.min(MAX_RESULTS, Math.max(0, int('count', MAX_RESULTS))),
  };
}
