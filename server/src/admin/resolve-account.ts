/**
 * An account named the way an operator knows it: baton's id (`u_…`), `IDP:SUBJECT` (the IdP's id in the
 * config and its subject), or, on its own, an IdP subject, a username (`preferred_username`) or an email.
 * More than one account matching is refused with the candidates listed; none is a clear error.
 */
import type { Knex } from 'knex';
import type { Account, AccountStore } from '../accounts/store.ts';
import { AdminError } from './errors.ts';

interface Match {
  id: string;
  idp_id: string | null;
  idp_issuer: string;
  idp_subject: string;
}

/** How an account is shown in the commands' output: its id and where it comes from. */
export const accountLabel = (a: Pick<Account, 'id' | 'idpId' | 'idpIssuer' | 'idpSubject'>) =>
  `${a.id} (${a.idpId ?? a.idpIssuer}:${a.idpSubject})`;
const label = (m: Match) =>
  accountLabel({ id: m.id, idpId: m.idp_id, idpIssuer: m.idp_issuer, idpSubject: m.idp_subject });

export async function resolveAccount(db: Knex, accounts: AccountStore, name: string): Promise<Account> {
  const colon = name.indexOf(':');
  const query = db('accounts')
    .where({ id: name })
    .orWhere({ idp_subject: name })
    .orWhereRaw(`profile->>'preferred_username' = ?`, [name])
    .orWhereRaw(`lower(profile->>'email') = lower(?)`, [name]);
  if (colon > 0) void query.orWhere({ idp_id: name.slice(0, colon), idp_subject: name.slice(colon + 1) });
  const rows = await query.orderBy('created_at').select<Match[]>('id', 'idp_id', 'idp_issuer', 'idp_subject');
  // baton's id, then IDP:SUBJECT, name exactly one account: they win over a username or email that happens to match
  const exact =
    rows.find((r) => r.id === name) ??
    (colon > 0 ? rows.find((r) => `${r.idp_id}:${r.idp_subject}` === name) : undefined);
  const candidates = exact ? [exact] : rows;
  if (candidates.length === 0) {
    throw new AdminError(
      'not_found',
      `no account matches "${name}" (name one by its id, IDP:SUBJECT, an IdP subject, a username or an email; see baton accounts list)`,
    );
  }
  if (candidates.length > 1) {
    throw new AdminError(
      'ambiguous',
      `"${name}" matches ${candidates.length} accounts: ${candidates.map(label).join(', ')}; name one by its id or as IDP:SUBJECT`,
    );
  }
  const account = await accounts.find(candidates[0]!.id);
  if (!account) throw new AdminError('not_found', `no account matches "${name}"`);
  return account;
}
