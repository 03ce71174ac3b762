/**
 * `baton health` / `GET /admin/api/health`: the storage's health as `/readyz` checks it (Storage.check:
 * PostgreSQL answers, its migrations are current, Redis answers when configured). A read: it answers even
 * when its own audit record cannot be written (the store it reports on may be the one that is down).
 */
import { z } from 'zod';
import { operation, type AdminStores } from './operation.ts';

export interface Health {
  status: 'ok' | 'unavailable';
  checks: { postgres: boolean; migrations: boolean; redis?: boolean };
}

/** The stores' health (never throws: Storage.check reports each store as false instead). */
export async function healthOf({ check }: Pick<AdminStores, 'check'>): Promise<Health> {
  const checks = check ? await check() : { postgres: false, migrations: false };
  return { status: Object.values(checks).every(Boolean) ? 'ok' : 'unavailable', checks };
}

const word = (ok: boolean) => (ok ? 'ok' : 'FAILING');

export const HEALTH_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'health',
    operation({
      args: z.strictObject({}),
      reads: true,
      run: healthOf,
      print: ({ status, checks }: Health) =>
        `${status}\n` +
        `  postgres    ${word(checks.postgres)}\n` +
        `  migrations  ${checks.postgres ? (checks.migrations ? 'current' : 'PENDING (baton migrate latest)') : 'unknown'}\n` +
        (checks.redis === undefined ? '' : `  redis       ${word(checks.redis)}\n`),
      status: ({ status }: Health) => (status === 'ok' ? 0 : 1),
    }),
  ],
];
