/**
 * The `scim_users` table (migration 20261201000030): the SCIM User of an account, per IdP, joined with the
 * account for its `active` (the account not disabled) and its subject. Every read of one row for a change
 * locks it (`for update`), so two concurrent writes of one User on any processes apply one after the other.
 */
import type { Knex } from 'knex';
import type { Lookup, StoredUser, UserRow } from './resource.ts';

interface Row {
  account_id: string;
  resource: StoredUser | string;
  disabled_at: Date | string | null;
  idp_subject: string;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface ScimUser extends UserRow {
  /** the account's subject at the IdP */
  subject: string;
}

const toUser = (r: Row): ScimUser => ({
  id: r.account_id,
  resource: typeof r.resource === 'string' ? (JSON.parse(r.resource) as StoredUser) : r.resource,
  active: r.disabled_at === null,
  subject: r.idp_subject,
  created: new Date(r.created_at),
  lastModified: new Date(r.updated_at),
});

const COLUMNS = [
  'scim_users.account_id',
  'scim_users.resource',
  'scim_users.created_at',
  'scim_users.updated_at',
  'accounts.disabled_at',
  'accounts.idp_subject',
];

/** The Users of one IdP (the rows a DELETE marked are not Users any more, RFC 7644 §3.6). */
const usersOf = (db: Knex, idpId: string) =>
  db('scim_users')
    .join('accounts', 'accounts.id', 'scim_users.account_id')
    .where('scim_users.idp_id', idpId)
    .whereNull('scim_users.deleted_at');

/** One User of the IdP, locked for a change when `trx` is a transaction that changes it. */
export async function findUser(db: Knex, idpId: string, id: string, lock = false): Promise<ScimUser | undefined> {
  const q = usersOf(db, idpId).where('scim_users.account_id', id).first<Row | undefined>(COLUMNS);
  const row = await (lock ? q.forUpdate() : q);
  return row ? toUser(row) : undefined;
}

/** A page of the IdP's Users matching the lookup, and how many match. */
export async function listUsers(
  db: Knex,
  idpId: string,
  lookup: Lookup,
  page: { startIndex: number; count: number },
): Promise<{ users: ScimUser[]; total: number }> {
  const matching = () => {
    const q = usersOf(db, idpId);
    if (lookup && 'userName' in lookup) void q.whereRaw('lower(scim_users.user_name) = lower(?)', [lookup.userName]);
    if (lookup && 'externalId' in lookup) void q.where('scim_users.external_id', lookup.externalId);
    if (lookup && 'id' in lookup) void q.where('scim_users.account_id', lookup.id);
    return q;
  };
  const [{ total }] = (await matching().count<{ total: string | number }[]>('* as total')) as [{ total: string }];
  const rows =
    page.count === 0
      ? []
      : await matching()
          .select<Row[]>(COLUMNS)
          .orderBy([{ column: 'scim_users.created_at' }, { column: 'scim_users.account_id' }])
          .offset(page.startIndex - 1)
          .limit(page.count);
  return { users: rows.map(toUser), total: Number(total) };
}

/** Whether another User of the IdP has this userName (RFC 7643 §4.1.1: unique, case-insensitive). */
export async function userNameTaken(db: Knex, idpId: string, userName: string, except: string): Promise<boolean> {
  const row = await usersOf(db, idpId)
    .whereRaw('lower(scim_users.user_name) = lower(?)', [userName])
    .whereNot('scim_users.account_id', except)
    .first<{ account_id: string } | undefined>('scim_users.account_id');
  return row !== undefined;
}

/** The row of an account, whichever IdP and whether a DELETE marked it, locked. */
export async function rowOfAccount(
  trx: Knex,
  accountId: string,
): Promise<{ idp_id: string; deleted: boolean } | undefined> {
  const row = await trx('scim_users')
    .where({ account_id: accountId })
    .forUpdate()
    .first<{ idp_id: string; deleted_at: Date | null } | undefined>('idp_id', 'deleted_at');
  return row ? { idp_id: row.idp_id, deleted: row.deleted_at !== null } : undefined;
}

const fieldsOf = (user: StoredUser) => ({
  user_name: user.userName,
  external_id: user.externalId ?? null,
  resource: JSON.stringify(user),
});

/** Creates the User of an account, or revives the row a DELETE marked. */
export async function putUser(trx: Knex, idpId: string, accountId: string, user: StoredUser): Promise<void> {
  await trx('scim_users')
    .insert({ account_id: accountId, idp_id: idpId, ...fieldsOf(user) })
    .onConflict('account_id')
    .merge({
      ...fieldsOf(user),
      idp_id: idpId,
      deleted_at: null,
      created_at: trx.fn.now(),
      updated_at: trx.fn.now(),
    });
}

export async function updateUser(trx: Knex, accountId: string, user: StoredUser): Promise<void> {
  await trx('scim_users')
    .where({ account_id: accountId })
    .update({ ...fieldsOf(user), updated_at: trx.fn.now() });
}

/** RFC 7644 §3.6: the User is gone for SCIM (the account stays, disabled). */
export async function markDeleted(trx: Knex, accountId: string): Promise<void> {
  await trx('scim_users')
    .where({ account_id: accountId })
    .update({ deleted_at: trx.fn.now(), updated_at: trx.fn.now() });
}
