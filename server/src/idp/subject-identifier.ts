/**
 * RFC 9493 Subject Identifiers, as a global token revocation request names the user
 * (draft-parecki-oauth-global-token-revocation-06 §3.2): a JSON object with `format` and that format's
 * members. The formats baton resolves against one IdP's accounts:
 *   iss_sub  (RFC 9493 §3.2.3)  the person at the IdP: `iss` the IdP's issuer, `sub` its subject
 *   email    (RFC 9493 §3.2.2)  the email the IdP gave at the last sign-in (or provisioning)
 *   opaque   (RFC 9493 §3.2.4)  baton's own account id (`u_…`), when the caller knows it (SCIM provisioning)
 * A member the format does not describe is refused (RFC 9493 §3: a Subject Identifier contains the members
 * its format describes); so is a member that is not a non-empty string PostgreSQL text can hold.
 */

export type SubjectIdentifier =
  | { format: 'iss_sub'; iss: string; sub: string }
  | { format: 'email'; email: string }
  | { format: 'opaque'; id: string };

export const SUPPORTED_FORMATS = ['iss_sub', 'email', 'opaque'] as const;

const MEMBERS: Record<SubjectIdentifier['format'], readonly string[]> = {
  iss_sub: ['iss', 'sub'],
  email: ['email'],
  opaque: ['id'],
};

/** Why a sub_id was not taken: `unsupported` names a format baton does not resolve, `invalid` anything else. */
export interface SubjectIdentifierRefusal {
  refused: 'invalid' | 'unsupported';
  detail: string;
}

/** 1 to 1024 characters, none of them U+0000 or an unpaired surrogate (what PostgreSQL text cannot hold) */
const usable = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= 1024 && !v.includes('\u0000') && v.isWellFormed();

/** RFC 5322 §3.4.1 addr-spec, loosely: one `@` with something either side, no spaces or controls */
// eslint-disable-next-line no-control-regex -- the point is to refuse them
const ADDR_SPEC = /^[^\s@\u0000-\u001f\u007f]+@[^\s@\u0000-\u001f\u007f]+$/;

export function parseSubjectIdentifier(value: unknown): SubjectIdentifier | SubjectIdentifierRefusal {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { refused: 'invalid', detail: 'sub_id is not a JSON object' };
  const members = value as Record<string, unknown>;
  const format = members.format;
  if (typeof format !== 'string' || !format) return { refused: 'invalid', detail: 'sub_id has no format' };
  if (!Object.hasOwn(MEMBERS, format))
    return { refused: 'unsupported', detail: `sub_id format ${JSON.stringify(format.slice(0, 64))}` };
  const expected = MEMBERS[format as SubjectIdentifier['format']];
  const extra = Object.keys(members).filter((k) => k !== 'format' && !expected.includes(k));
  if (extra.length > 0)
    return { refused: 'invalid', detail: `sub_id (${format}) has members its format does not describe` };
  for (const member of expected) {
    if (!usable(members[member]))
      return { refused: 'invalid', detail: `sub_id (${format}) ${member} is not a string of 1 to 1024 characters` };
  }
  if (format === 'email' && !ADDR_SPEC.test(members.email as string))
    return { refused: 'invalid', detail: 'sub_id (email) email is not an addr-spec' };
  return Object.fromEntries([['format', format], ...expected.map((m) => [m, members[m]])]) as SubjectIdentifier;
}

export const isSubjectRefusal = (v: SubjectIdentifier | SubjectIdentifierRefusal): v is SubjectIdentifierRefusal =>
  'refused' in v;
