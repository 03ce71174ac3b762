/**
 * `accounts.upstream_sub`: the `sub` of the ID token of the account's last sign-in, beside `idp_subject` (the
 * claim `identity_providers[].subject_claim` names, `sub` by default). With another subject claim (Entra ID's
 * `oid`, its `sub` being pairwise per application) baton still needs the `sub`: a refresh's userinfo answer
 * must carry it (OIDC Core §5.3.2), and a back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4) or a
 * global token revocation's `iss_sub` names the person by it. Indexed by (IdP issuer, upstream_sub).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('upstream_sub').nullable();
    t.index(['idp_issuer', 'upstream_sub'], 'accounts_idp_upstream_sub');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropIndex(['idp_issuer', 'upstream_sub'], 'accounts_idp_upstream_sub');
    t.dropColumn('upstream_sub');
  });
}
