/**
 * `baton overview` / `GET /admin/api/overview` (the admin console's first page): how many resources, clients
 * and accounts baton has, how many tokens it issued and how many requests it refused in the last hour (from
 * the audit trail: `token.issued` events, and every event whose outcome is `refused`), and the storage's
 * health. A read: it answers even when its own audit record cannot be written.
 */
import { z } from 'zod';
import { operation, policyOf, type AdminStores } from './operation.ts';
import { healthOf, type Health } from './health-operations.ts';

export interface Overview {
  resources: number;
  clients: { static: number; registered: number };
  accounts: { total: number; disabled: number };
  /** the hour counted: [since, until) */
  last_hour: { since: string; until: string; tokens_issued: number; refused: number };
  health: Health;
}

async function lastHour(stores: AdminStores, until: Date): Promise<Overview['last_hour']> {
  const since = new Date(until.getTime() - 3600_000);
  // audit_events is indexed by `at`: two counts over one hour of it
  const [row] = await stores
    .db('audit_events')
    .where('at', '>=', since.toISOString())
    .where('at', '<', until.toISOString())
    .select<{ issued: string | number; refused: string | number }[]>(
      stores.db.raw(`count(*) filter (where type = 'token.issued' and outcome = 'success') as issued`),
      stores.db.raw(`count(*) filter (where outcome = 'refused') as refused`),
    );
  return {
    since: since.toISOString(),
    until: until.toISOString(),
    tokens_issued: Number(row?.issued ?? 0),
    refused: Number(row?.refused ?? 0),
  };
}

export const OVERVIEW_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'overview',
    operation({
      args: z.strictObject({}),
      reads: true,
      async run(stores): Promise<Overview> {
        const policy = policyOf(stores);
        const [accounts] = await stores
          .db('accounts')
          .select<{ total: string | number; disabled: string | number }[]>(
            stores.db.raw('count(*) as total'),
            stores.db.raw('count(disabled_at) as disabled'),
          );
        const [registered] = await stores
          .db('oidc_payloads')
          .where({ model: 'Client' })
          .count<{ n: string | number }[]>({ n: '*' });
        return {
          resources: policy.resources.size,
          clients: { static: policy.staticClients.size, registered: Number(registered?.n ?? 0) },
          accounts: { total: Number(accounts?.total ?? 0), disabled: Number(accounts?.disabled ?? 0) },
          last_hour: await lastHour(stores, new Date()),
          health: await healthOf(stores),
        };
      },
      print: (o: Overview) =>
        `resources   ${o.resources}\n` +
        `clients     ${o.clients.static} static, ${o.clients.registered} registered\n` +
        `accounts    ${o.accounts.total} (${o.accounts.disabled} disabled)\n` +
        `last hour   ${o.last_hour.tokens_issued} tokens issued, ${o.last_hour.refused} refused\n` +
        `storage     ${o.health.status}\n`,
    }),
  ],
];
