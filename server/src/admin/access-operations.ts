/**
 * `baton access matrix` / `GET /admin/api/access` and `baton access person ACCOUNT` /
 * `GET /admin/api/access/people/{account}`: the access matrix (policy/access-matrix.ts) of the policy in
 * force and the accounts baton knows. Reads: recorded as every operation is, never changing anything.
 */
import { z } from 'zod';
import type { Knex } from 'knex';
import {
  accessMatrix,
  personAccess,
  type AccessMatrix,
  type AccountRef,
  type DelegationHop,
  type KnownAccount,
  type PersonAccess,
} from '../policy/access-matrix.ts';
import { AdminError } from './errors.ts';
import { operation, policyOf } from './operation.ts';
import { resolveAccount } from './resolve-account.ts';

interface Row {
  id: string;
  idp_id: string | null;
  idp_subject: string;
  groups: string[] | string;
  disabled_at: Date | string | null;
  last_login_at: Date | string | null;
}

const COLUMNS = ['id', 'idp_id', 'idp_subject', 'groups', 'disabled_at', 'last_login_at'];

const known = (r: Row): KnownAccount => ({
  id: r.id,
  idp: r.idp_id,
  subject: r.idp_subject,
  groups: typeof r.groups === 'string' ? (JSON.parse(r.groups) as string[]) : r.groups,
  last_sign_in: r.last_login_at === null ? null : new Date(r.last_login_at).toISOString(),
  disabled: r.disabled_at !== null,
});

async function knownAccounts(db: Knex, id?: string): Promise<KnownAccount[]> {
  const query = db('accounts').orderBy('created_at').select<Row[]>(COLUMNS);
  return (await (id === undefined ? query : query.where({ id }))).map(known);
}

const who = (a: AccountRef) =>
  `${a.id} (${a.idp ?? '-'}:${a.subject})  ${a.last_sign_in ? `last sign-in ${a.last_sign_in}` : 'never signed in'}${a.disabled ? '  DISABLED' : ''}`;

function printScopes(scopes: AccessMatrix['resources'][number]['scopes'], lines: string[]): void {
  for (const s of scopes) {
    lines.push(`  ${s.scope}${s.roles.length === 0 ? '  (no role grants it)' : ''}`);
    for (const { role, groups } of s.roles) {
      lines.push(`    role ${role}${groups.length === 0 ? '  (no group is bound to it)' : ''}`);
      for (const g of groups) {
        lines.push(`      group ${g.idp}:${g.group}${g.accounts.length === 0 ? '  (no known account)' : ''}`);
        for (const a of g.accounts) lines.push(`        ${who(a)}`);
      }
    }
  }
}

function printMatrix(m: AccessMatrix): string {
  const lines: string[] = [];
  for (const r of m.resources) {
    lines.push(`${r.uri}  ${r.name}`);
    printScopes(r.scopes, lines);
  }
  for (const b of m.builtin_resources) {
    if (!b.people) {
      lines.push(`${b.uri}  ${b.name}  [${b.scopes.join(' ')}]  baton's own: configured clients only, no role`);
      continue;
    }
    lines.push(`${b.uri}  ${b.name}  baton's own: configured clients, and people through ${b.people.through} only`);
    printScopes(b.people.scopes, lines);
  }
  lines.push('', m.note);
  return `${lines.join('\n')}\n`;
}

function printHops(hops: readonly DelegationHop[], indent: string, lines: string[]): void {
  for (const h of hops) {
    const chain = h.impersonation ? 'impersonating' : `chain ${h.depth} of max ${h.max_chain}`;
    lines.push(`${indent}exchange by ${h.actor} → ${h.target}  [${h.scopes.join(' ')}]  (${chain})`);
    printHops(h.hops, `${indent}  `, lines);
  }
}

function printPerson(p: PersonAccess): string {
  const a = p.account;
  const lines = [`${who(a)}`, `  groups [${a.groups.join(', ')}]  roles [${a.roles.join(', ')}]`];
  if (a.note) lines.push(`  ${a.note}`);
  if (p.resources.length === 0) lines.push('  no resource: no role of this account grants a scope');
  for (const r of p.resources) {
    lines.push(`${r.uri}  ${r.name}${r.through ? `  (through ${r.through} only)` : ''}`);
    for (const s of r.scopes)
      lines.push(`  ${s.scope}  via ${s.via.map((v) => `${a.idp ?? '-'}:${v.group} → ${v.role}`).join(', ')}`);
    printHops(r.delegation, '  ', lines);
  }
  lines.push('', p.note);
  return `${lines.join('\n')}\n`;
}

export const ACCESS_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'access.matrix',
    operation({
      args: z.strictObject({}),
      async run(stores): Promise<AccessMatrix> {
        return accessMatrix(policyOf(stores), await knownAccounts(stores.db));
      },
      print: printMatrix,
    }),
  ],
  [
    'access.person',
    operation({
      // an account as `baton revoke user` names it (resolve-account.ts)
      args: z.strictObject({ account: z.string().min(1).max(1024) }),
      async run(stores, { account }): Promise<PersonAccess> {
        const found = await resolveAccount(stores.db, stores.accounts, account);
        const [row] = await knownAccounts(stores.db, found.id);
        if (!row) throw new AdminError('not_found', `no account matches "${account}"`);
        return personAccess(policyOf(stores), row);
      },
      print: printPerson,
    }),
  ],
];
