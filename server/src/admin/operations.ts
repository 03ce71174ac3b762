/**
 * The command line's admin operations, each implemented once. The CLI runs one on the store itself, or,
 * when a running server holds the embedded store, asks that server to run it (admin/socket.ts); either way
 * the arguments are checked here, the result is plain JSON and `print` turns it into the command's output,
 * so both paths print the same. To add one: an entry in OPERATIONS, and its command in cli.ts's
 * adminRequest().
 */
import { z } from 'zod';
import { importAccounts, ProvisionError, provisionOne, type ProvisionRecord } from '../accounts/provision.ts';
import { ACCESS_OPERATIONS } from './access-operations.ts';
import { ACCOUNT_OPERATIONS } from './account-operations.ts';
import { CLIENT_OPERATIONS } from './client-operations.ts';
import { POLICY_OPERATIONS } from './policy-operations.ts';
import { OVERVIEW_OPERATIONS } from './overview-operations.ts';
import { HEALTH_OPERATIONS } from './health-operations.ts';
import { AUDIT_OPERATIONS } from './audit-operations.ts';
import { REVOKE_OPERATIONS } from './revoke-operations.ts';
import { KEY_OPERATIONS } from './key-operations.ts';
import { CLIENT_BLOCK_OPERATIONS } from './client-block-operations.ts';
import { SECRET_OPERATIONS } from './secret-operations.ts';
import { sharedAuditWriter } from '../audit/writer.ts';
import { adminEvent, failureOf, writeAdminRecords, type AdminCaller, type AdminVia } from './audit-record.ts';
import type { AuditEvent } from '../audit/record.ts';
import { AdminError } from './errors.ts';
import { operation, type AdminStores, type Operation, type OperationContext } from './operation.ts';
import { accountLabel, resolveAccount } from './resolve-account.ts';
import { markRevoked } from '../status-list/entry.ts';

export type { AdminStores } from './operation.ts';

/** an account as the operator names it (see resolve-account.ts) */
const accountName = z.string().min(1).max(1024);
interface AccountListRow {
  id: string;
  idp_id: string | null;
  idp_subject: string;
  roles: string[] | string;
  disabled_at: Date | string | null;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

const setDisabled = (disabled: boolean) =>
  operation({
    args: z.strictObject({ account: accountName }),
    async run({ db, accounts }, { account }) {
      const found = await resolveAccount(db, accounts, account);
      // disabling revokes every token of the account in the Token Status List, in the same transaction
      // (draft-ietf-oauth-status-list-20 §7.1 INVALID): verifiers reading the list refuse them too
      const revoked = await db.transaction(async (trx) => {
        if (!(await accounts.setDisabled(found.id, disabled, trx))) return undefined;
        return disabled ? markRevoked(trx, { accountId: found.id }) : 0;
      });
      if (revoked === undefined) throw new AdminError('not_found', `no account matches "${account}"`);
      return { account: accountLabel(found), id: found.id };
    },
    print: ({ account }) => `${disabled ? 'disabled' : 'enabled'} ${account}\n`,
    audit: ({ id }) => [
      {
        type: disabled ? 'account.disabled' : 'account.enabled',
        outcome: 'success',
        account: id,
        details: { operation: disabled ? 'accounts.disable' : 'accounts.enable' },
      },
    ],
  });

/** A provisioning refusal (a bad record or file line) is the operator's to fix: a 400, nothing stored. */
async function provisioning<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProvisionError) throw new AdminError('invalid_request', err.message);
    throw err;
  }
}

export const OPERATIONS: ReadonlyMap<string, Operation<unknown, unknown>> = new Map([
  [
    'accounts.list',
    operation({
      // the command line lists every account; the admin API pages (limit, and after: the last id received)
      args: z.strictObject({
        limit: z.number().int().min(1, 'limit is 1–1000').max(1000, 'limit is 1–1000').optional(),
        after: z.string().min(1).max(1024).optional(),
        /** a part of the subject, email or name, any case (a LIKE pattern's own characters match themselves) */
        search: z.string().min(1).max(200).optional(),
      }),
      async run({ db }, { limit, after, search }) {
        const q = db('accounts')
          .orderBy([{ column: 'created_at' }, { column: 'id' }])
          .select<AccountListRow[]>('id', 'idp_id', 'idp_subject', 'roles', 'disabled_at');
        if (search !== undefined) {
          // bound as a value; %, _ and \ escaped so that they match themselves
          const pattern = `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          void q.where(
            (w) =>
              void w
                .whereRaw(`idp_subject ilike ? escape '\\'`, [pattern])
                .orWhereRaw(`profile->>'email' ilike ? escape '\\'`, [pattern])
                .orWhereRaw(`profile->>'name' ilike ? escape '\\'`, [pattern]),
          );
        }
        // keyset paging on (created_at, id): an unknown `after` matches nothing (an empty page)
        if (after !== undefined)
          void q.whereRaw('(created_at, id) > (select created_at, id from accounts where id = ?)', [after]);
        if (limit !== undefined) void q.limit(limit + 1);
        const rows = await q;
        const page = limit === undefined ? rows : rows.slice(0, limit);
        return {
          accounts: page.map((a) => ({
            id: a.id,
            idp: a.idp_id,
            subject: a.idp_subject,
            roles: typeof a.roles === 'string' ? (JSON.parse(a.roles) as string[]) : a.roles,
            disabled: a.disabled_at !== null,
          })),
          next_after: limit !== undefined && rows.length > limit ? page.at(-1)!.id : null,
        };
      },
      print: ({ accounts, next_after }) =>
        accounts
          .map(
            (a) =>
              `${a.id}  ${a.idp ?? '-'}  ${a.subject}  [${a.roles.join(',')}]  ${a.disabled ? 'disabled' : 'enabled'}\n`,
          )
          .join('') + (next_after ? `(more: after ${next_after})\n` : ''),
    }),
  ],
  ['accounts.disable', setDisabled(true)],
  ['accounts.enable', setDisabled(false)],
  [
    'accounts.add',
    operation({
      // checked (with the IdP and the role bindings) by provisionOne, whose messages name the field
      args: z.record(z.string(), z.unknown()),
      async run({ config, accounts }, record) {
        const a = await provisioning(() => provisionOne(config, accounts, record as ProvisionRecord));
        return { id: a.id, idp: a.idpId, subject: a.idpSubject, groups: a.groups, roles: a.roles };
      },
      print: (a) =>
        `${a.id}  ${a.idp ?? '-'}  ${a.subject}  groups [${a.groups.join(',')}]  roles [${a.roles.join(',')}]\n`,
    }),
  ],
  [
    'accounts.import',
    operation({
      // the file's text, read by the command line (the server never opens a path it is sent)
      args: z.strictObject({ content: z.string().max(900_000) }),
      async run({ config, accounts }, { content }) {
        return { imported: await provisioning(() => importAccounts(config, accounts, content)) };
      },
      print: ({ imported }) => `imported ${plural(imported, 'account')}\n`,
    }),
  ],
  [
    'consents.revoke',
    operation({
      args: z.strictObject({ account: accountName, client: z.string().min(1).max(1024).optional() }),
      async run({ db, accounts }, { account, client }) {
        const found = await resolveAccount(db, accounts, account);
        return { revoked: await accounts.revokeConsents(found.id, client) };
      },
      print: ({ revoked }) => `revoked ${plural(revoked, 'consent')}\n`,
    }),
  ],
  [
    'keys.list',
    operation({
      args: z.strictObject({}),
      async run({ keys }) {
        return (await keys.list()).map((k) => ({
          kid: k.kid,
          alg: k.alg,
          state: k.state,
          created_at: new Date(k.created_at).toISOString(),
        }));
      },
      print: (rows) => rows.map((r) => `${r.kid}  ${r.alg}  ${r.state.padEnd(9)}  created ${r.created_at}\n`).join(''),
    }),
  ],
  ...AUDIT_OPERATIONS,
  ...REVOKE_OPERATIONS,
  ...ACCESS_OPERATIONS,
  ...ACCOUNT_OPERATIONS,
  ...CLIENT_OPERATIONS,
  ...CLIENT_BLOCK_OPERATIONS,
  ...KEY_OPERATIONS,
  ...SECRET_OPERATIONS,
  ...POLICY_OPERATIONS,
  ...HEALTH_OPERATIONS,
  ...OVERVIEW_OPERATIONS,
]);

function find(name: string): Operation<unknown, unknown> {
  const op = OPERATIONS.get(name);
  if (!op) throw new AdminError('unknown_operation', `no admin operation ${name}`);
  return op;
}

/** Runs an operation; its arguments are checked first (AdminError invalid_request). */
async function runChecked(
  stores: AdminStores,
  op: Operation<unknown, unknown>,
  name: string,
  args: unknown,
  context: OperationContext,
) {
  const parsed = op.args.safeParse(args);
  if (!parsed.success) {
    // each problem named by its argument: "since: is not a date or an ISO 8601 time"
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    throw new AdminError('invalid_request', `${name}: ${problems.join('; ')}`);
  }
  return op.run(stores, parsed.data, context);
}

/**
 * Runs an operation and writes its audit records (admin/audit-record.ts), `via` saying how it reached the
 * store. The change is done first; when its record then cannot be written, AuditRecordError tells the
 * operator (a non-zero exit) — except for a read of the audit trail, which still answers (the failure is
 * reported on `stores.log`). A refused or failed operation is recorded too, and its own error is thrown.
 */
export async function runOperation(
  stores: AdminStores,
  name: string,
  args: unknown,
  via: AdminVia = 'store',
  by?: AdminCaller,
): Promise<unknown> {
  const op = OPERATIONS.get(name);
  const label = op ? name : 'unknown';
  // the command line's own pool: its writer follows audit.enabled as the server's does (main.ts)
  sharedAuditWriter(stores.db, { events: stores.config.audit.enabled });
  const withVia = (e: AuditEvent): AuditEvent => ({ ...e, details: { ...e.details, via } });
  let result: unknown;
  try {
    if (!op) throw new AdminError('unknown_operation', `no admin operation ${name}`);
    result = await runChecked(stores, op, name, args, { via, ...(by ? { by } : {}) });
  } catch (err) {
    await writeAdminRecords(stores.db, label, [adminEvent(label, failureOf(err), via, by)]).catch((e: Error) =>
      stores.log?.error({ reason: e.message }, 'audit.write_failed'),
    );
    throw err;
  }
  const events = [...(op.audit?.(result) ?? []).map(withVia), adminEvent(name, { outcome: 'success' }, via, by)];
  try {
    await writeAdminRecords(stores.db, name, events);
  } catch (err) {
    if (!op.reads) throw err;
    stores.log?.error({ reason: (err as Error).message }, 'audit.write_failed');
  }
  return result;
}

export function printResult(name: string, result: unknown): string {
  return find(name).print(result);
}

/** The command's exit status for that result (0 unless the operation says otherwise). */
export function resultStatus(name: string, result: unknown): number {
  return find(name).status?.(result) ?? 0;
}
