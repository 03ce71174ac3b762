/**
 * findAccount (oidc-provider): an account is a row of `accounts`; a disabled or unknown account yields
 * undefined, which makes oidc-provider refuse code and refresh redemption (`invalid_grant`).
 */
import type { Knex } from 'knex';
import type { Configuration } from 'oidc-provider';

export function accountFinder(db: Knex): NonNullable<Configuration['findAccount']> {
  return async (_ctx, sub) => {
    const row = await db('accounts')
      .where({ id: sub })
      .whereNull('disabled_at')
      .first<{ id: string; profile: Record<string, unknown> | string } | undefined>('id', 'profile');
    if (!row) return undefined;
    const profile =
      typeof row.profile === 'string' ? (JSON.parse(row.profile) as Record<string, unknown>) : row.profile;
    return { accountId: row.id, claims: () => ({ ...profile, sub: row.id }) };
  };
}
