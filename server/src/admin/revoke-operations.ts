/**
 * `baton revoke user ACCOUNT | client ID | grant GID | token JTI` and `POST /admin/api/revocations`: one
 * operation each (revocation/revoke.ts does the work), recorded as one `token.revoked` audit event naming
 * the target and what it reached, in the same write as the `admin.operation` record naming who asked.
 */
import { z } from 'zod';
import type { AuditEvent } from '../audit/record.ts';
import { AdminError } from './errors.ts';
import { operation, type AdminStores } from './operation.ts';
import { accountLabel, resolveAccount } from './resolve-account.ts';
import {
  countsOf,
  revoke,
  UnknownTarget,
  type RevocationCounts,
  type RevocationTarget,
  type TargetKind,
} from '../revocation/revoke.ts';

interface Revoked extends RevocationCounts {
  target: TargetKind;
  id: string;
  /** how the target is shown: an account with where it comes from */
  label: string;
}

// eslint-disable-next-line no-control-regex -- the point is to refuse them
const CONTROL = /[\u0000-\u001f\u007f]/;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function run(stores: AdminStores, kind: TargetKind, name: string): Promise<Revoked> {
  const account = kind === 'user' ? await resolveAccount(stores.db, stores.accounts, name) : undefined;
  const id = account?.id ?? name;
  const target = { [kind]: id } as RevocationTarget;
  const isStaticClient = (c: string) => stores.config.clients.static.some((s) => s.client_id === c);
  const { db, adapterFor, accounts } = stores;
  if (!adapterFor) throw new Error('a revocation needs the store adapters (AdminStores.adapterFor)');
  try {
    const counts = await revoke({ db, adapterFor, accounts, isStaticClient }, target);
    return { target: kind, id, label: account ? accountLabel(account) : id, ...counts };
  } catch (err) {
    if (err instanceof UnknownTarget) throw new AdminError('not_found', `${err.message}: nothing was revoked`);
    throw err;
  }
}

function print(r: Revoked): string {
  const what = [
    plural(r.tokens, 'access token'),
    plural(r.grants, 'grant'),
    plural(r.refresh_tokens, 'refresh token'),
    ...(r.target === 'user' ? [plural(r.consents, 'consent'), plural(r.sessions, 'session')] : []),
  ];
  return `revoked ${r.target} ${r.label}: ${what.join(', ')}\n`;
}

/** the record's ids: the target in its own column (account, grant, token), and always in details */
function audit(r: Revoked): AuditEvent[] {
  const column = { user: { account: r.id }, grant: { gid: r.id }, token: { jti: r.id }, client: {} }[r.target];
  return [
    {
      type: 'token.revoked',
      outcome: 'success',
      ...column,
      reason: 'revoked',
      details: {
        operation: `revoke.${r.target}`,
        target: r.target,
        id: r.id,
        ...countsOf(r),
      },
    },
  ];
}

const revokeOperation = (kind: TargetKind, arg: string) =>
  operation({
    args: z.strictObject({
      [arg]: z
        .string()
        .min(1)
        .max(1024)
        // PostgreSQL text holds neither U+0000 nor an unpaired surrogate: such a name names nothing baton keeps
        .refine(
          (v) => !CONTROL.test(v) && v.isWellFormed(),
          'a name without control characters or unpaired surrogates',
        ),
    }),
    run: (stores, args) => run(stores, kind, args[arg]!),
    print,
    audit,
  });

export const REVOKE_OPERATIONS = [
  ['revoke.user', revokeOperation('user', 'account')],
  ['revoke.client', revokeOperation('client', 'client')],
  ['revoke.grant', revokeOperation('grant', 'grant')],
  ['revoke.token', revokeOperation('token', 'jti')],
] as const;
