/**
 * The SCIM Users of one IdP (RFC 7644 §3.3 create, §3.4.1 read, §3.5.1 replace, §3.5.2 modify, §3.6
 * delete), each a baton account of that IdP: the account is (IdP issuer, the value of the attribute
 * `identity_providers[].scim.subject_attribute` names, `externalId` by default), created as `baton accounts
 * add` would when it does not exist yet; the User's `id` is the account id; its `active` is the account's
 * state (not disabled).
 *
 * Deprovisioning: a write that leaves `active` false, or a DELETE, disables the account and then revokes
 * the user through the one revocation operation (revocation/revoke.ts: every grant, refresh token, consent,
 * session and every token derived from them, with their status bits). Disable first, in its own committed
 * transaction: from then on nothing new is issued for the account (sign-in, refresh, exchange and ID-JAG
 * redemption refuse a disabled account; introspection answers inactive), so the revocation that follows
 * reaches everything there is. If the revocation fails, the answer is 503 and the IdP sends it again: every
 * write that leaves `active` false revokes again (idempotent), and what a DELETE or an inactive POST shows
 * to SCIM (the User gone, the User there) is written only after the revocation, so the retry still finds
 * work to do. The reverse order could leave an account revoked but enabled, where a sign-in makes fresh
 * tokens. `active: true` enables the account again; what was revoked stays revoked.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Knex } from 'knex';
import SCIMMY from 'scimmy';
import { accountIdFor, type AccountStore } from '../accounts/store.ts';
import { provisionOne, ProvisionError } from '../accounts/provision.ts';
import type { AuditEvent } from '../audit/record.ts';
import type { Config, OidcIdpConfig } from '../config/schema.ts';
import { countsOf, revoke, type RevocationStores } from '../revocation/revoke.ts';
import { notFound, ScimRefusal, unavailable } from './errors.ts';
import { incomingUser, keep, normaliseActive, patchSource, type IncomingUser, type StoredUser } from './resource.ts';
import { findUser, markDeleted, putUser, rowOfAccount, updateUser, userNameTaken, type ScimUser } from './store.ts';

export interface ScimStores {
  config: Config;
  db: Knex;
  accounts: AccountStore;
  revocation: RevocationStores;
}

export type ScimIdp = OidcIdpConfig & { scim: NonNullable<OidcIdpConfig['scim']> };

type Operation = 'scim.create' | 'scim.replace' | 'scim.modify' | 'scim.delete';

/** records what a change did, once it is committed (docs/events.md "Audit event catalogue") */
export type Recorder = (events: AuditEvent[]) => Promise<void>;

const uniqueness = (attribute: string) =>
  new ScimRefusal(409, 'uniqueness', `a User with this ${attribute} exists already`);

const storedOf = ({ active: _active, ...user }: IncomingUser): StoredUser => user;

function subjectOf(idp: ScimIdp, user: IncomingUser): string {
  const attribute = idp.scim.subject_attribute;
  const subject = user[attribute];
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255)
    throw new ScimRefusal(400, 'invalidValue', `${attribute} (1-255 characters) is required: it names the account`);
  return subject;
}

/** the record of a SCIM change (docs/events.md "Audit event catalogue") */
function event(
  type: AuditEvent['type'],
  idp: ScimIdp,
  user: { id: string; subject: string },
  operation: Operation,
  extra: Record<string, unknown> = {},
): AuditEvent {
  return {
    type,
    outcome: 'success',
    account: user.id,
    idp: { iss: idp.issuer, sub: user.subject },
    details: { via: 'scim', idp: idp.id, operation, ...extra },
  };
}

/** The account's state follows `active`; the records of what changed. */
async function setActive(
  stores: ScimStores,
  trx: Knex,
  user: { id: string; subject: string; active: boolean },
  active: boolean,
  ctx: { idp: ScimIdp; operation: Operation },
): Promise<AuditEvent[]> {
  if (active === user.active) return [];
  await stores.accounts.setDisabled(user.id, !active, trx);
  return [event(active ? 'account.enabled' : 'account.disabled', ctx.idp, user, ctx.operation)];
}

/** The user's revocation (revocation/revoke.ts), its record; a failure is 503: the IdP sends it again. */
async function revokeUser(stores: ScimStores, idp: ScimIdp, user: { id: string; subject: string }, op: Operation) {
  try {
    const counts = await revoke(stores.revocation, { user: user.id });
    return {
      ...event('token.revoked', idp, user, op, { target: 'user', id: user.id, ...countsOf(counts) }),
      reason: 'scim_deprovisioned',
    } satisfies AuditEvent;
  } catch (err) {
    throw unavailable(`the account is disabled, its revocation failed: ${(err as Error).message}`);
  }
}

/** a unique index refused the write (two writes raced): the same 409 the checks answer */
async function unique<T>(idp: ScimIdp, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505')
      throw uniqueness(e.constraint === 'scim_users_user_name' ? 'userName' : idp.scim.subject_attribute);
    throw err;
  }
}

/** The account of a new User, created as `baton accounts add` would, when it does not exist yet. */
async function accountFor(stores: ScimStores, trx: Knex, idp: ScimIdp, subject: string, user: StoredUser) {
  const id = accountIdFor(idp.issuer, subject);
  const existing = await trx('accounts').where({ id }).forUpdate().first<{ disabled_at: unknown } | undefined>();
  if (existing) return { id, subject, active: existing.disabled_at === null, created: false };
  const email = user.emails?.find((e) => e.primary)?.value ?? user.emails?.[0]?.value;
  const name = user.displayName ?? user.name?.formatted;
  try {
    await provisionOne(
      stores.config,
      stores.accounts,
      { idp: idp.id, subject, ...(email ? { email } : {}), ...(name && name.length <= 200 ? { name } : {}) },
      trx,
    );
  } catch (err) {
    if (err instanceof ProvisionError) throw new ScimRefusal(400, 'invalidValue', `the User: ${err.message}`);
    throw err;
  }
  return { id, subject, active: true, created: true };
}

/** RFC 7644 §3.3: POST /Users. */
export async function createUser(
  stores: ScimStores,
  idp: ScimIdp,
  body: unknown,
  record: Recorder,
): Promise<ScimUser | undefined> {
  const incoming = incomingUser(body);
  const subject = subjectOf(idp, incoming);
  const user = storedOf(incoming);
  const active = incoming.active ?? true;
  const operation = 'scim.create';
  const first = await unique(idp, () =>
    stores.db.transaction(async (trx) => {
      const account = await accountFor(stores, trx, idp, subject, user);
      const row = await rowOfAccount(trx, account.id);
      if (row && !row.deleted) throw uniqueness(idp.scim.subject_attribute);
      if (await userNameTaken(trx, idp.id, user.userName, account.id)) throw uniqueness('userName');
      const events = await setActive(stores, trx, account, active, { idp, operation });
      // an inactive User appears once its account is revoked (a failed revocation is sent again)
      if (active) await putUser(trx, idp.id, account.id, user);
      const action = account.created ? 'created' : 'linked';
      return { account, events: [event('account.provisioned', idp, account, operation, { action }), ...events] };
    }),
  );
  await record(first.events);
  if (!active) {
    await record([await revokeUser(stores, idp, first.account, operation)]);
    await unique(idp, () => stores.db.transaction((trx) => putUser(trx, idp.id, first.account.id, user)));
  }
  return findUser(stores.db, idp.id, first.account.id);
}

/**
 * A change of an existing User (RFC 7644 §3.5.1 PUT, §3.5.2 PATCH): `next` computes the new User from the
 * current one, in the transaction that holds its row. The subject attribute cannot change (it is the
 * account): 400 mutability. Then, when the User is inactive, the revocation.
 */
async function changeUser(
  stores: ScimStores,
  idp: ScimIdp,
  id: string,
  operation: Operation,
  next: (current: ScimUser) => Promise<IncomingUser>,
  record: Recorder,
): Promise<ScimUser | undefined> {
  const attribute = idp.scim.subject_attribute;
  const first = await unique(idp, () =>
    stores.db.transaction(async (trx) => {
      const current = await findUser(trx, idp.id, id, true);
      if (!current) throw notFound(`no User ${id} of ${idp.id}`);
      const incoming = await next(current);
      const sent = incoming[attribute];
      if (sent !== undefined && sent !== current.subject)
        throw new ScimRefusal(400, 'mutability', `${attribute} names the account: it cannot change`);
      const user = { ...storedOf(incoming), ...(attribute === 'externalId' ? { externalId: current.subject } : {}) };
      if (await userNameTaken(trx, idp.id, user.userName, id)) throw uniqueness('userName');
      await updateUser(trx, id, user);
      const active = incoming.active ?? current.active;
      const events = await setActive(stores, trx, current, active, { idp, operation });
      const changed = !isDeepStrictEqual(user, current.resource);
      if (changed) events.unshift(event('account.provisioned', idp, current, operation, { action: 'updated' }));
      return { user: { ...current, active }, events };
    }),
  );
  await record(first.events);
  if (!first.user.active) await record([await revokeUser(stores, idp, first.user, operation)]);
  return findUser(stores.db, idp.id, id);
}

/** RFC 7644 §3.5.1: PUT /Users/:id (an absent `active` keeps the account's state). */
export function replaceUser(stores: ScimStores, idp: ScimIdp, id: string, body: unknown, record: Recorder) {
  const incoming = incomingUser(body);
  return changeUser(stores, idp, id, 'scim.replace', () => Promise.resolve(incoming), record);
}

/** RFC 7644 §3.5.2: PATCH /Users/:id, a PatchOp applied by scimmy (its 400s: invalidSyntax, invalidPath, …). */
export function modifyUser(stores: ScimStores, idp: ScimIdp, id: string, body: unknown, record: Recorder) {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ScimRefusal(400, 'invalidSyntax', 'the body must be a PatchOp message');
  const message = new SCIMMY.Messages.PatchOp(normaliseActive(body) as PatchMessage);
  const next = async (current: ScimUser) => {
    const patched = await message.apply(patchSource(current), (user) => Promise.resolve(user));
    return patched ? keep(patched) : { ...current.resource, active: current.active };
  };
  return changeUser(stores, idp, id, 'scim.modify', next, record);
}

type PatchMessage = ConstructorParameters<typeof SCIMMY.Messages.PatchOp>[0];

/**
 * RFC 7644 §3.6: DELETE /Users/:id. The account is disabled and revoked, then the User is gone (a GET is
 * 404); the account stays, disabled (its audit trail names it), and a later POST of the same User links it.
 */
export async function deleteUser(stores: ScimStores, idp: ScimIdp, id: string, record: Recorder): Promise<void> {
  const operation = 'scim.delete';
  const current = await stores.db.transaction(async (trx) => {
    const user = await findUser(trx, idp.id, id, true);
    if (!user) throw notFound(`no User ${id} of ${idp.id}`);
    return { user, events: await setActive(stores, trx, user, false, { idp, operation }) };
  });
  await record(current.events);
  await record([await revokeUser(stores, idp, current.user, operation)]);
  await stores.db.transaction((trx) => markDeleted(trx, id));
  await record([event('account.provisioned', idp, current.user, operation, { action: 'deleted' })]);
}
